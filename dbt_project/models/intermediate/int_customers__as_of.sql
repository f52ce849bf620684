-- Customers known on the as-of date: created by then, or with an order or email event by then
-- (CRMs often create the record after a first purchase was imported).
with customers as (
    select * from {{ ref('stg_crm__customers') }}
),

order_metrics as (
    select customer_id from {{ ref('int_customer_order_metrics') }}
),

email_metrics as (
    select customer_id from {{ ref('int_customer_email_metrics') }}
),

visible as (
    select customers.*
    from customers
    left join order_metrics
        on customers.customer_id = order_metrics.customer_id
    left join email_metrics
        on customers.customer_id = email_metrics.customer_id
    where
        customers.created_at is null
        or customers.created_at < {{ as_of_cutoff() }}
        or order_metrics.customer_id is not null
        or email_metrics.customer_id is not null
)

select * from visible
