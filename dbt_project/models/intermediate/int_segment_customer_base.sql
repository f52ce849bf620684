-- A table: every segment predicate scans it.
{{ config(materialized='table') }}
-- What segment rules filter on: every column of dim_customers plus a few fields derived from the
-- as-of date. Its columns are the fields a rule may name (orchestration/segments reads them).
with customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        customers.*,
        coalesce(
            extract(month from customers.birth_date) = extract(month from {{ as_of_date() }}),
            false
        ) as is_birthday_month,
        {{ dbt.datediff('cast(customers.last_engaged_at as date)', as_of_date(), 'day') }}
            as days_since_last_engaged,
        -- The usual cycle says when the next order is due; only with at least three orders.
        case
            when customers.completed_orders >= 3
                then cast({{ dbt.dateadd(
                    'day',
                    'cast(round(customers.avg_days_between_orders) as integer)',
                    'cast(customers.last_order_at as date)',
                ) }} as date)
        end as next_purchase_expected_on
    from customers
)

select
    *,
    {{ dbt.datediff(as_of_date(), 'next_purchase_expected_on', 'day') }} as days_until_next_purchase  -- noqa: LT05
from final
