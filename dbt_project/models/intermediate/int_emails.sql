-- One row per email: a customer and a campaign with at least one event visible on the as-of date.
-- Repeated events (a resend, a second open) collapse into one email; events without a campaign_id
-- cannot be tied to an email and are left out (so are the platforms' opt-outs, which have none).
-- Flags are unique per email (a click implies an open; an open, click, unsubscribe, complaint or
-- delivered event proves delivery, otherwise a bounce means it was not delivered). The campaign's
-- cost is spread evenly over all its emails. What each email earned: the completed orders
-- attributed to it (last touch, int_kpis__order_attribution), their revenue, and whether it
-- converted (at least one such order).
-- Read from int_email_first_events (the first time of each event type per email, kept
-- incrementally). The KPIs and int_customer_email_metrics read this model.
with email_first_events as (
    select * from {{ ref('int_email_first_events') }}
),

campaigns as (
    select * from {{ ref('stg_crm__campaigns') }}
),

order_attribution as (
    select * from {{ ref('int_kpis__order_attribution') }}
),

-- An event type was seen on the as-of date when its first time is before the cutoff.
emails as (
    select
        email_first_events.customer_id,
        email_first_events.campaign_id,
        {{ email_sent_at('email_first_events', as_of_cutoff()) }} as sent_at,
        {{ email_event_seen('email_first_events', 'sent', as_of_cutoff()) }} as has_sent_event,
        {{ email_is_delivered('email_first_events', as_of_cutoff()) }} as is_delivered,
        {{ email_event_seen('email_first_events', 'open', as_of_cutoff()) }}
        or {{ email_event_seen('email_first_events', 'click', as_of_cutoff()) }} as is_opened,
        {{ email_event_seen('email_first_events', 'click', as_of_cutoff()) }} as is_clicked,
        {{ email_event_seen('email_first_events', 'unsubscribe', as_of_cutoff()) }} as is_unsubscribed,
        {{ email_event_seen('email_first_events', 'complaint', as_of_cutoff()) }} as is_complained
    from email_first_events
    where email_first_events.first_event_at < {{ as_of_cutoff() }}
),

campaign_sizes as (
    select
        campaign_id,
        count(*) as campaign_emails_sent
    from emails
    group by campaign_id
),

attributed as (
    select
        customer_id,
        attributed_campaign_id as campaign_id,
        count(*) as attributed_orders,
        sum(amount_reporting) as attributed_revenue
    from order_attribution
    where attributed_campaign_id is not null
    group by customer_id, attributed_campaign_id
),

final as (
    select
        emails.*,
        campaigns.cost as campaign_cost,
        campaign_sizes.campaign_emails_sent,
        cast(campaigns.cost as double) / campaign_sizes.campaign_emails_sent as email_cost,
        coalesce(attributed.attributed_orders, 0) > 0 as is_converted,
        coalesce(attributed.attributed_orders, 0) as attributed_orders,
        cast(coalesce(attributed.attributed_revenue, 0) as decimal(18, 2)) as attributed_revenue
    from emails
    inner join campaign_sizes
        on emails.campaign_id = campaign_sizes.campaign_id
    left join campaigns
        on emails.campaign_id = campaigns.campaign_id
    left join attributed
        on
            emails.customer_id = attributed.customer_id
            and emails.campaign_id = attributed.campaign_id
)

select * from final
