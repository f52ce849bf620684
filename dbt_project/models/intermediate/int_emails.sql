-- One row per email: a customer and a campaign with at least one event visible on the as-of date.
-- Repeated events (a resend, a second open) collapse into one email; events without a campaign_id
-- cannot be tied to an email and are left out (so are the platforms' opt-outs, which have none).
-- Flags are unique per email (a click implies an open; an open, click, unsubscribe, complaint or
-- delivered event proves delivery, otherwise a bounce means it was not delivered). The campaign's
-- cost is spread evenly over all its emails.
-- Read from int_email_first_events, the first time of each event type per email over all staged
-- events (kept incrementally, so a new as-of date does not aggregate the events again). The KPIs
-- and int_customer_email_metrics read this model.
with email_first_events as (
    select * from {{ ref('int_email_first_events') }}
),

campaigns as (
    select * from {{ ref('stg_crm__campaigns') }}
),

-- An event type was seen on the as-of date when its first time is before the cutoff.
visible as (
    select
        customer_id,
        campaign_id,
        coalesce(
            case when first_sent_at < {{ as_of_cutoff() }} then first_sent_at end,
            first_event_at
        ) as sent_at,
        coalesce(first_sent_at < {{ as_of_cutoff() }}, false) as has_sent,
        coalesce(first_bounce_at < {{ as_of_cutoff() }}, false) as has_bounce,
        coalesce(first_delivered_at < {{ as_of_cutoff() }}, false) as has_delivered,
        coalesce(first_open_at < {{ as_of_cutoff() }}, false) as has_open,
        coalesce(first_click_at < {{ as_of_cutoff() }}, false) as has_click,
        coalesce(first_unsubscribe_at < {{ as_of_cutoff() }}, false) as has_unsubscribe,
        coalesce(first_complaint_at < {{ as_of_cutoff() }}, false) as has_complaint
    from email_first_events
    where first_event_at < {{ as_of_cutoff() }}
),

emails as (
    select
        customer_id,
        campaign_id,
        sent_at,
        has_sent as has_sent_event,
        has_delivered or has_open or has_click or has_unsubscribe or has_complaint
        or not has_bounce as is_delivered,
        has_open or has_click as is_opened,
        has_click as is_clicked,
        has_unsubscribe as is_unsubscribed,
        has_complaint as is_complained
    from visible
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
        emails.*,
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
