-- Per customer with at least one email event as of the as-of date: what they received and how they
-- engaged. An open or a click counts as engagement; a click implies the email was opened.
with email_events as (
    select * from {{ ref('int_email_events__as_of') }}
),

aggregated as (
    select
        customer_id,
        sum(case when event_type = 'sent' then 1 else 0 end) as emails_sent,
        sum(case when event_type = 'delivered' then 1 else 0 end) as emails_delivered,
        sum(case when event_type = 'open' then 1 else 0 end) as opens,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks,
        sum(case when event_type = 'bounce' then 1 else 0 end) as bounces,
        count(distinct case when event_type = 'sent' then campaign_id end) as campaigns_received,
        count(distinct case when event_type in ('open', 'click') then campaign_id end) as campaigns_opened,
        count(distinct case when event_type = 'click' then campaign_id end) as campaigns_clicked,
        max(case when event_type = 'sent' then occurred_at end) as last_email_sent_at,
        max(case when event_type = 'open' then occurred_at end) as last_open_at,
        max(case when event_type = 'click' then occurred_at end) as last_click_at,
        max(case when event_type in ('open', 'click') then occurred_at end) as last_engaged_at,
        min(case when event_type = 'unsubscribe' then occurred_at end) as unsubscribed_at,
        min(case when event_type = 'complaint' then occurred_at end) as complained_at
    from email_events
    group by customer_id
),

final as (
    select
        *,
        case
            when campaigns_received > 0
                then cast(campaigns_opened as decimal(18, 4)) / campaigns_received
        end as campaign_open_rate
    from aggregated
)

select * from final
