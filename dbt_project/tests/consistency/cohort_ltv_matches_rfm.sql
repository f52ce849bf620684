{%- set as_of_month = 'cast(' ~ dbt.date_trunc('month', as_of_date()) ~ ' as date)' -%}
-- Consistency: each cohort of cohort_ltv is the buyers of customer_rfm whose first completed order
-- was in its month, with a row for every month from the first to the as-of month, and its last row
-- sums what customer_rfm knows of them: buyers, repeat buyers (frequency 2 or more), orders, revenue.
with cohort_ltv as (
    select * from {{ ref('cohort_ltv') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

rfm_cohorts as (
    select
        cast({{ dbt.date_trunc('month', 'first_order_at') }} as date) as cohort_month,
        count(*) as buyers,
        sum(case when frequency >= 2 then 1 else 0 end) as repeat_buyers,
        sum(frequency) as orders,
        sum(monetary) as revenue
    from customer_rfm
    group by cast({{ dbt.date_trunc('month', 'first_order_at') }} as date)
),

cohort_rows as (
    select
        cohort_month,
        count(*) as month_rows,
        max(months_since_first_order) as last_month
    from cohort_ltv
    group by cohort_month
),

last_rows as (
    select * from cohort_ltv
    where activity_month = {{ as_of_month }}
)

select
    coalesce(rfm_cohorts.cohort_month, last_rows.cohort_month) as cohort_month,
    rfm_cohorts.buyers,
    last_rows.cohort_customers,
    rfm_cohorts.repeat_buyers,
    last_rows.repeat_customers,
    rfm_cohorts.orders,
    last_rows.cumulative_orders,
    rfm_cohorts.revenue,
    last_rows.cumulative_revenue,
    cohort_rows.month_rows,
    cohort_rows.last_month
from rfm_cohorts
full outer join last_rows
    on rfm_cohorts.cohort_month = last_rows.cohort_month
left join cohort_rows
    on last_rows.cohort_month = cohort_rows.cohort_month
where
    rfm_cohorts.cohort_month is null
    or last_rows.cohort_month is null
    or rfm_cohorts.buyers != last_rows.cohort_customers
    or rfm_cohorts.repeat_buyers != last_rows.repeat_customers
    or rfm_cohorts.orders != last_rows.cumulative_orders
    or rfm_cohorts.revenue != last_rows.cumulative_revenue
    or cohort_rows.month_rows != cohort_rows.last_month + 1
    or cohort_rows.last_month != {{ dbt.datediff('last_rows.cohort_month', as_of_month, 'month') }}
