-- One row per email (customer × campaign) visible on the as-of date, with its flags and what it earned.
with emails as (
    select * from {{ ref('int_emails') }}
),

final as (
    select
        {{ dbt.concat(['customer_id', "'|'", 'campaign_id']) }} as email_id,
        customer_id,
        campaign_id,
        sent_at,
        has_sent_event,
        is_delivered,
        is_opened,
        is_clicked,
        is_unsubscribed,
        is_complained,
        is_converted,
        attributed_orders,
        attributed_revenue,
        email_cost,
        {{ as_of_date() }} as as_of_date
    from emails
)

select * from final
