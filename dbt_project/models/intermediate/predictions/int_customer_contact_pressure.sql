-- How many emails a customer received lately: 'sent' events in the 7 and 30 days up to the end of
-- the as-of day (the as-of day and the 6 / 29 days before it). One row per customer emailed in the
-- last 30 days; everyone else received none.
{% set last_7_days = dbt.dateadd('day', -7, as_of_cutoff()) %}
{% set last_30_days = dbt.dateadd('day', -30, as_of_cutoff()) %}

with email_events as (
    select * from {{ ref('int_email_events__as_of') }}
    where event_type = 'sent'
),

final as (
    select
        customer_id,
        sum(case when occurred_at >= {{ last_7_days }} then 1 else 0 end) as emails_received_7d,
        count(*) as emails_received_30d
    from email_events
    where occurred_at >= {{ last_30_days }}
    group by customer_id
)

select * from final
