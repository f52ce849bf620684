-- Per customer with at least one email event as of the as-of date: what they received and how they
-- engaged. An open or a click counts as engagement; a click implies the email was opened.
-- Campaigns are counted from int_emails (one row per customer and campaign) rather than by
-- count(distinct) over the events, which cost three times as much at 50M events.
with email_events as (
    select * from {{ ref('int_email_events__as_of') }}
),

emails as (
    select * from {{ ref('int_emails') }}
),

event_counts as (
    select
        customer_id,
        sum(case when event_type = 'sent' then 1 else 0 end) as emails_sent,
        sum(case when event_type = 'delivered' then 1 else 0 end) as emails_delivered,
        sum(case when event_type = 'open' then 1 else 0 end) as opens,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks,
        sum(case when event_type = 'bounce' then 1 else 0 end) as bounces,
        max(case when event_type = 'sent' then occurred_at end) as last_email_sent_at,
        max(case when event_type = 'open' then occurred_at end) as last_open_at,
        max(case when event_type = 'click' then occurred_at end) as last_click_at,
        max(case when event_type in ('open', 'click') then occurred_at end) as last_engaged_at,
        min(case when event_type = 'unsubscribe' then occurred_at end) as unsubscribed_at,
        min(case when event_type = 'complaint' then occurred_at end) as complained_at
    from email_events
    group by customer_id
),

campaign_counts as (
    select
        customer_id,
        count(case when has_sent_event then 1 end) as campaigns_received,
        count(case when is_opened then 1 end) as campaigns_opened,
        count(case when is_clicked then 1 end) as campaigns_clicked
    from emails
    group by customer_id
),

aggregated as (
    select
        event_counts.customer_id,
        event_counts.emails_sent,
        event_counts.emails_delivered,
        event_counts.opens,
        event_counts.clicks,
        event_counts.bounces,
        coalesce(campaign_counts.campaigns_received, 0) as campaigns_received,
        coalesce(campaign_counts.campaigns_opened, 0) as campaigns_opened,
        coalesce(campaign_counts.campaigns_clicked, 0) as campaigns_clicked,
        event_counts.last_email_sent_at,
        event_counts.last_open_at,
        event_counts.last_click_at,
        event_counts.last_engaged_at,
        event_counts.unsubscribed_at,
        event_counts.complained_at
    from event_counts
    left join campaign_counts
        on event_counts.customer_id = campaign_counts.customer_id
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
