-- One row per email: a customer and a campaign with at least one event visible on the as-of date.
-- Repeated events (a resend, a second open) collapse into one email; events without a campaign_id
-- cannot be tied to an email and are left out. Flags are unique per email (a click implies an open;
-- an open, click, unsubscribe, complaint or delivered event proves delivery, otherwise a bounce
-- means it was not delivered). The campaign's cost is spread evenly over all its emails.
-- The KPIs and int_customer_email_metrics read it: one aggregation of the events per email.
with email_events as (
    select * from {{ ref('int_email_events__as_of') }}
),

campaigns as (
    select * from {{ ref('stg_crm__campaigns') }}
),

emails as (
    select
        customer_id,
        campaign_id,
        coalesce(
            min(case when event_type = 'sent' then occurred_at end),
            min(occurred_at)
        ) as sent_at,
        max(case when event_type = 'sent' then 1 else 0 end) as has_sent,
        max(case when event_type = 'bounce' then 1 else 0 end) as has_bounce,
        max(
            case
                when event_type in ('delivered', 'open', 'click', 'unsubscribe', 'complaint') then 1 else 0
            end
        ) as has_delivery_evidence,
        max(case when event_type in ('open', 'click') then 1 else 0 end) as has_open,
        max(case when event_type = 'click' then 1 else 0 end) as has_click,
        max(case when event_type = 'unsubscribe' then 1 else 0 end) as has_unsubscribe,
        max(case when event_type = 'complaint' then 1 else 0 end) as has_complaint
    from email_events
    where campaign_id is not null
    group by customer_id, campaign_id
),

campaign_sizes as (
    select
        campaign_id,
        count(*) as campaign_emails_sent
    from emails
    group by campaign_id
),

final as (
    select
        emails.customer_id,
        emails.campaign_id,
        emails.sent_at,
        emails.has_sent = 1 as has_sent_event,
        emails.has_delivery_evidence = 1 or emails.has_bounce = 0 as is_delivered,
        emails.has_open = 1 as is_opened,
        emails.has_click = 1 as is_clicked,
        emails.has_unsubscribe = 1 as is_unsubscribed,
        emails.has_complaint = 1 as is_complained,
        campaigns.cost as campaign_cost,
        campaign_sizes.campaign_emails_sent,
        cast(campaigns.cost as double) / campaign_sizes.campaign_emails_sent as email_cost
    from emails
    inner join campaign_sizes
        on emails.campaign_id = campaign_sizes.campaign_id
    left join campaigns
        on emails.campaign_id = campaigns.campaign_id
)

select * from final
