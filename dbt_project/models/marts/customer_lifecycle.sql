-- One row per customer known on the as-of date: where they are in the lifecycle and how they
-- engage with email. The rules and their vars are documented in _marts__models.yml.
with customers as (
    select * from {{ ref('int_customers__as_of') }}
),

order_metrics as (
    select * from {{ ref('int_customer_order_metrics') }}
),

email_metrics as (
    select * from {{ ref('int_customer_email_metrics') }}
),

joined as (
    select
        customers.customer_id,
        customers.lead_status,
        customers.email_opt_in,
        coalesce(order_metrics.completed_orders, 0) as completed_orders,
        coalesce(order_metrics.completed_orders_in_regular_window, 0) as completed_orders_in_regular_window,
        order_metrics.recency_days,
        email_metrics.last_engaged_at,
        email_metrics.unsubscribed_at,
        email_metrics.complained_at
    from customers
    left join order_metrics
        on customers.customer_id = order_metrics.customer_id
    left join email_metrics
        on customers.customer_id = email_metrics.customer_id
),

classified as (
    select
        customer_id,
        case when completed_orders > 0 then 'buyer' else 'lead' end as lifecycle_stage,
        case
            when completed_orders = 0 then coalesce(lead_status, 'new')
            when recency_days > {{ var('lifecycle_lapsed_after_days') }} then 'lapsed'
            when completed_orders_in_regular_window >= {{ var('lifecycle_regular_min_orders') }} then 'regular'
            when completed_orders >= 2 then 'periodic'
            else 'one_time'
        end as lifecycle_status,
        case
            when unsubscribed_at is not null or complained_at is not null or email_opt_in = false
                then 'unsubscribed'
            when
                last_engaged_at
                >= {{ dbt.dateadd('day', -1 * var('engagement_active_window_days'), as_of_cutoff()) }}
                then 'active'
            when last_engaged_at is not null then 'inactive'
            else 'never_engaged'
        end as engagement_status,
        completed_orders,
        recency_days,
        last_engaged_at,
        {{ as_of_date() }} as as_of_date
    from joined
)

select * from classified
