{{ config(tags=['segments']) }}
-- Consistency: the 'all' rows of segment_kpis agree with a direct count over the as-of inputs:
-- the members' completed orders, revenue and buyers in the period (int_orders__as_of), and their
-- emails in the period (distinct customer × campaign in int_email_events__as_of, timed by the
-- first 'sent' event, else the first event).
{%- set period_start = dbt.dateadd('day', -(var('kpi_lookback_days') | int), as_of_cutoff()) %}

with kpis as (
    select * from {{ ref('segment_kpis') }}
    where member_group = 'all'
),

membership as (
    select
        segment_key,
        customer_id
    from {{ ref('segment_membership') }}
),

period_orders as (
    select
        customer_id,
        count(*) as orders,
        sum(amount_reporting) as revenue
    from {{ ref('int_orders__as_of') }}
    where is_completed and ordered_at >= {{ period_start }}
    group by customer_id
),

-- An email sent in the period has an event in the period, so only the campaigns with one can
-- count: the rest of the history is skipped.
period_campaigns as (
    select distinct campaign_id
    from {{ ref('int_email_events__as_of') }}
    where occurred_at >= {{ period_start }}
),

emails as (
    select
        events.customer_id,
        events.campaign_id,
        coalesce(
            min(case when events.event_type = 'sent' then events.occurred_at end),
            min(events.occurred_at)
        ) as sent_at
    from {{ ref('int_email_events__as_of') }} as events
    inner join period_campaigns
        on events.campaign_id = period_campaigns.campaign_id
    group by events.customer_id, events.campaign_id
),

period_emails as (
    select
        customer_id,
        count(*) as emails_sent
    from emails
    where sent_at >= {{ period_start }}
    group by customer_id
),

expected as (
    select
        membership.segment_key,
        sum(case when period_orders.orders > 0 then 1 else 0 end) as buyers,
        coalesce(sum(period_orders.orders), 0) as orders,
        coalesce(sum(period_orders.revenue), 0) as revenue,
        coalesce(sum(period_emails.emails_sent), 0) as emails_sent
    from membership
    left join period_orders
        on membership.customer_id = period_orders.customer_id
    left join period_emails
        on membership.customer_id = period_emails.customer_id
    group by membership.segment_key
)

select
    kpis.segment_key,
    kpis.buyers,
    expected.buyers as expected_buyers,
    kpis.orders,
    expected.orders as expected_orders,
    kpis.revenue,
    expected.revenue as expected_revenue,
    kpis.emails_sent,
    expected.emails_sent as expected_emails_sent
from kpis
left join expected
    on kpis.segment_key = expected.segment_key
where
    kpis.buyers != coalesce(expected.buyers, 0)
    or kpis.orders != coalesce(expected.orders, 0)
    or abs(kpis.revenue - coalesce(expected.revenue, 0)) > 0.01
    or kpis.emails_sent != coalesce(expected.emails_sent, 0)
