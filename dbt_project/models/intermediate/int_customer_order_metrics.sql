-- Per customer with at least one order as of the as-of date: counts and money in the reporting
-- currency. Only completed orders count as purchases; refunded and cancelled ones are counted apart,
-- so `monetary` is net of refunds.
{% set regular_window_start = dbt.dateadd('day', -1 * var('lifecycle_regular_window_days'), as_of_cutoff()) %}

with orders as (
    select * from {{ ref('int_orders__as_of') }}
),

aggregated as (
    select
        customer_id,
        count(*) as orders_placed,
        sum(case when is_completed then 1 else 0 end) as completed_orders,
        sum(case when order_status = 'refunded' then 1 else 0 end) as refunded_orders,
        sum(case when order_status = 'cancelled' then 1 else 0 end) as cancelled_orders,
        sum(case when is_completed then amount_reporting else 0 end) as monetary,
        sum(case when order_status = 'refunded' then amount_reporting else 0 end) as refunded_amount,
        min(case when is_completed then ordered_at end) as first_order_at,
        max(case when is_completed then ordered_at end) as last_order_at,
        min(ordered_at) as first_order_placed_at,
        sum(
            case
                when is_completed and ordered_at >= {{ regular_window_start }} then 1
                else 0
            end
        ) as completed_orders_in_regular_window
    from orders
    group by customer_id
),

final as (
    select
        customer_id,
        orders_placed,
        completed_orders,
        refunded_orders,
        cancelled_orders,
        cast(monetary as decimal(18, 2)) as monetary,
        cast(refunded_amount as decimal(18, 2)) as refunded_amount,
        case
            when completed_orders > 0 then cast(monetary / completed_orders as decimal(18, 2))
        end as avg_order_value,
        first_order_at,
        last_order_at,
        first_order_placed_at,
        -- null without a completed order
        {{ dbt.datediff('cast(last_order_at as date)', as_of_date(), 'day') }} as recency_days,  -- noqa: LT05
        case
            when completed_orders > 1
                then
                    cast({{ dbt.datediff('first_order_at', 'last_order_at', 'day') }} as decimal(18, 2))  -- noqa: LT05
                    / (completed_orders - 1)
        end as avg_days_between_orders,
        completed_orders_in_regular_window
    from aggregated
)

select * from final
