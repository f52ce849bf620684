-- The customer as of the as-of date with every attribute and metric, ready for BI and for
-- segment rules: CRM fields, order and email metrics, RFM scores and segment, lifecycle and engagement.
with customers as (
    select * from {{ ref('int_customers__as_of') }}
),

order_metrics as (
    select * from {{ ref('int_customer_order_metrics') }}
),

email_metrics as (
    select * from {{ ref('int_customer_email_metrics') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

final as (
    select
        customers.customer_id,
        customers.email,
        customers.email_status,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.gender,
        customers.birth_date,
        case
            when customers.birth_date is not null
                then
                    {{ dbt.datediff('customers.birth_date', as_of_date(), 'year') }}
                    - case
                        when
                            extract(month from customers.birth_date) * 100 + extract(day from customers.birth_date)
                            > extract(month from {{ as_of_date() }}) * 100 + extract(day from {{ as_of_date() }})
                            then 1
                        else 0
                    end
        end as age_years,
        customers.city,
        customers.region,
        customers.country,
        customers.timezone,
        customers.acquisition_channel,
        customers.lead_status,
        customers.email_opt_in,
        customers.created_at,
        customers.updated_at,
        customers.data_issues,

        lifecycle.lifecycle_stage,
        lifecycle.lifecycle_status,
        lifecycle.engagement_status,
        customers.email is not null and lifecycle.engagement_status != 'unsubscribed' as is_emailable,

        coalesce(order_metrics.orders_placed, 0) as orders_placed,
        coalesce(order_metrics.completed_orders, 0) as completed_orders,
        coalesce(order_metrics.refunded_orders, 0) as refunded_orders,
        coalesce(order_metrics.cancelled_orders, 0) as cancelled_orders,
        coalesce(order_metrics.monetary, 0) as total_revenue,
        coalesce(order_metrics.refunded_amount, 0) as refunded_amount,
        order_metrics.avg_order_value,
        order_metrics.first_order_at,
        order_metrics.last_order_at,
        order_metrics.recency_days,
        order_metrics.avg_days_between_orders,

        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        rfm.rfm_code,
        rfm.rfm_segment,

        coalesce(email_metrics.emails_sent, 0) as emails_sent,
        coalesce(email_metrics.emails_delivered, 0) as emails_delivered,
        coalesce(email_metrics.opens, 0) as opens,
        coalesce(email_metrics.clicks, 0) as clicks,
        coalesce(email_metrics.bounces, 0) as bounces,
        coalesce(email_metrics.campaigns_received, 0) as campaigns_received,
        coalesce(email_metrics.campaigns_opened, 0) as campaigns_opened,
        coalesce(email_metrics.campaigns_clicked, 0) as campaigns_clicked,
        email_metrics.campaign_open_rate,
        email_metrics.last_email_sent_at,
        email_metrics.last_open_at,
        email_metrics.last_click_at,
        email_metrics.last_engaged_at,
        email_metrics.unsubscribed_at,
        email_metrics.complained_at,

        {{ as_of_date() }} as as_of_date
    from customers
    left join order_metrics
        on customers.customer_id = order_metrics.customer_id
    left join email_metrics
        on customers.customer_id = email_metrics.customer_id
    left join rfm
        on customers.customer_id = rfm.customer_id
    left join lifecycle
        on customers.customer_id = lifecycle.customer_id
)

select * from final
