-- Consistency: the revenue in customer_rfm equals the completed orders visible on the as-of date.
with rfm as (
    select
        count(*) as buyers,
        sum(frequency) as orders,
        sum(monetary) as revenue
    from {{ ref('customer_rfm') }}
),

orders as (
    select
        count(distinct customer_id) as buyers,
        count(*) as orders,
        sum(amount_reporting) as revenue
    from {{ ref('int_orders__as_of') }}
    where is_completed
)

select
    rfm.buyers as rfm_buyers,
    orders.buyers as order_buyers,
    rfm.orders as rfm_orders,
    orders.orders as completed_orders,
    rfm.revenue as rfm_revenue,
    orders.revenue as order_revenue
from rfm
cross join orders
where
    rfm.buyers != orders.buyers
    or rfm.orders != orders.orders
    or abs(rfm.revenue - orders.revenue) > 0.01
