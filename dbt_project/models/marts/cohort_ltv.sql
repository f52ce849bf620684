{#- The longest history a cohort's rows reach: every month a four-digit year can write, so even an
    order dated year 0201 by a typo gets all its cohort's months (customer_rfm's recency test is the
    one that stops such a build). Only the months up to the as-of month become rows. -#}
{%- set max_months = 120000 -%}
{%- set as_of_month = 'cast(' ~ dbt.date_trunc('month', as_of_date()) ~ ' as date)' -%}
{%- set running = 'partition by cohort_month order by months_since_first_order '
    ~ 'rows between unbounded preceding and current row' -%}
-- The retention and LTV triangle: buyers grouped by the calendar month of their first completed
-- order (the cohort), one row per cohort and month since that month, from 0 up to the as-of month,
-- months without an order included. Completed orders in the reporting currency visible on the
-- as-of date, as in customer_rfm. Definitions: _marts__models.yml.
with orders as (
    select * from {{ ref('int_orders__as_of') }}
    where is_completed
),

numbered_orders as (
    select
        customer_id,
        amount_reporting,
        cast({{ dbt.date_trunc('month', 'ordered_at') }} as date) as order_month,
        row_number() over (partition by customer_id order by ordered_at, order_id) as order_number
    from orders
),

customers as (
    select
        customer_id,
        min(order_month) as cohort_month,
        min(case when order_number = 2 then order_month end) as second_order_month
    from numbered_orders
    group by customer_id
),

cohorts as (
    select
        cohort_month,
        count(*) as cohort_customers
    from customers
    group by cohort_month
),

cohort_orders as (
    select
        customers.cohort_month,
        numbered_orders.customer_id,
        numbered_orders.amount_reporting,
        {{ dbt.datediff('customers.cohort_month', 'numbered_orders.order_month', 'month') }}
            as months_since_first_order
    from numbered_orders
    inner join customers
        on numbered_orders.customer_id = customers.customer_id
),

monthly_orders as (
    select
        cohort_month,
        months_since_first_order,
        count(distinct customer_id) as active_customers,
        count(*) as orders,
        sum(amount_reporting) as revenue
    from cohort_orders
    group by cohort_month, months_since_first_order
),

repeat_months as (
    select
        cohort_month,
        {{ dbt.datediff('cohort_month', 'second_order_month', 'month') }}
            as months_since_first_order
    from customers
    where second_order_month is not null
),

new_repeat_customers as (
    select
        cohort_month,
        months_since_first_order,
        count(*) as new_repeat_customers
    from repeat_months
    group by cohort_month, months_since_first_order
),

month_offsets as (
    {{ dbt.generate_series(max_months) }}
),

spine as (
    select
        cohorts.cohort_month,
        cohorts.cohort_customers,
        month_offsets.generated_number - 1 as months_since_first_order
    from cohorts
    cross join month_offsets
    where month_offsets.generated_number - 1 <= {{ dbt.datediff('cohorts.cohort_month', as_of_month, 'month') }}
),

counted as (
    select
        spine.cohort_month,
        spine.months_since_first_order,
        cast({{ dbt.dateadd('month', 'spine.months_since_first_order', 'spine.cohort_month') }} as date)
            as activity_month,
        spine.cohort_customers,
        coalesce(monthly_orders.active_customers, 0) as active_customers,
        coalesce(monthly_orders.orders, 0) as orders,
        coalesce(monthly_orders.revenue, 0) as revenue,
        coalesce(new_repeat_customers.new_repeat_customers, 0) as new_repeat_customers
    from spine
    left join monthly_orders
        on
            spine.cohort_month = monthly_orders.cohort_month
            and spine.months_since_first_order = monthly_orders.months_since_first_order
    left join new_repeat_customers
        on
            spine.cohort_month = new_repeat_customers.cohort_month
            and spine.months_since_first_order = new_repeat_customers.months_since_first_order
),

cumulated as (
    select
        cohort_month,
        months_since_first_order,
        activity_month,
        -- The month is over when the day after the as-of day is in a later month.
        {{ dbt.dateadd('month', 1, 'activity_month') }} <= {{ dbt.dateadd('day', 1, as_of_date()) }}
            as is_complete_month,
        cohort_customers,
        active_customers,
        orders,
        revenue,
        sum(orders) over ({{ running }}) as cumulative_orders,
        sum(revenue) over ({{ running }}) as cumulative_revenue,
        sum(new_repeat_customers) over ({{ running }}) as repeat_customers
    from counted
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        cohort_month,
        months_since_first_order,
        activity_month,
        is_complete_month,
        case
            when is_complete_month then {{ dbt.last_day('activity_month', 'month') }}
            else {{ as_of_date() }}
        end as observed_through,
        cohort_customers,
        active_customers,
        cast(round(cast(active_customers as double) / cohort_customers, 6) as decimal(18, 6)) as active_rate,
        orders,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(cumulative_orders as {{ dbt.type_bigint() }}) as cumulative_orders,
        cast(cumulative_revenue as decimal(18, 2)) as cumulative_revenue,
        cast(round(cast(cumulative_revenue as double) / cohort_customers, 2) as decimal(18, 2))
            as cumulative_revenue_per_customer,
        cast(repeat_customers as {{ dbt.type_bigint() }}) as repeat_customers,
        cast(round(cast(repeat_customers as double) / cohort_customers, 6) as decimal(18, 6)) as repeat_rate
    from cumulated
)

select * from final
