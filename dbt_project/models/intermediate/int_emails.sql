-- One row per email: a customer and a campaign with at least one event visible on the as-of date.
-- Repeated events (a resend, a second open) collapse into one email; events without a campaign_id
-- cannot be tied to an email and are left out. Flags are unique per email (a click implies an open;
-- an open, click, unsubscribe, complaint or delivered event proves delivery, otherwise a bounce
-- means it was not delivered). The campaign's cost is spread evenly over all its emails.
-- The KPIs and int_customer_email_metrics read it: one aggregation of the events per email.
{%- set event_bits = {
    'sent': 1, 'bounce': 2, 'delivered': 4, 'open': 8, 'click': 16, 'unsubscribe': 32, 'complaint': 64,
} %}
{%- set delivery_evidence = event_bits['delivered'] + event_bits['open'] + event_bits['click']
    + event_bits['unsubscribe'] + event_bits['complaint'] %}
with email_events as (
    select * from {{ ref('int_email_events__as_of') }}
),

campaigns as (
    select * from {{ ref('stg_crm__campaigns') }}
),

-- Which event types an email had, one bit each, in one aggregate: seven max() flags made the
-- hash table of 23M emails (1M customers) twice as slow, spilling under the memory limit.
email_event_bits as (
    select
        customer_id,
        campaign_id,
        occurred_at,
        event_type,
        case event_type
            {%- for event_type, bit in event_bits.items() %}
            when '{{ event_type }}' then {{ bit }}
            {%- endfor %}
            else 0
        end as event_bit
    from email_events
    where campaign_id is not null
),

emails as (
    select
        customer_id,
        campaign_id,
        coalesce(
            min(case when event_type = 'sent' then occurred_at end),
            min(occurred_at)
        ) as sent_at,
        {{ bit_or_agg('event_bit') }} as event_types_seen
    from email_event_bits
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
        {{ has_any_bit('emails.event_types_seen', event_bits['sent']) }} as has_sent_event,
        {{ has_any_bit('emails.event_types_seen', delivery_evidence) }}
        or not {{ has_any_bit('emails.event_types_seen', event_bits['bounce']) }} as is_delivered,
        {{ has_any_bit('emails.event_types_seen', event_bits['open'] + event_bits['click']) }} as is_opened,
        {{ has_any_bit('emails.event_types_seen', event_bits['click']) }} as is_clicked,
        {{ has_any_bit('emails.event_types_seen', event_bits['unsubscribe']) }} as is_unsubscribed,
        {{ has_any_bit('emails.event_types_seen', event_bits['complaint']) }} as is_complained,
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
