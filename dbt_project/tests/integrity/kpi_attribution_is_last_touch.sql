-- Integrity: every attributed order points at a delivered email of its own customer sent before it
-- and within var kpi_attribution_window_days days, with no later such email (last touch); and the
-- attributed orders and revenue of int_emails add up to exactly those of the attributed orders.
{%- set window_days = var('kpi_attribution_window_days') | int %}

with attribution as (
    select * from {{ ref('int_kpis__order_attribution') }}
    where attributed_campaign_id is not null
),

emails as (
    select * from {{ ref('int_emails') }}
),

outcomes as (
    select
        sum(attributed_orders) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue
    from emails
),

attributed_totals as (
    select
        count(*) as attributed_orders,
        sum(amount_reporting) as attributed_revenue
    from attribution
),

bad_touch as (
    select attribution.order_id
    from attribution
    left join emails
        on
            attribution.customer_id = emails.customer_id
            and attribution.attributed_campaign_id = emails.campaign_id
    where
        emails.customer_id is null
        or not emails.is_delivered
        or emails.sent_at != attribution.attributed_email_sent_at
        or attribution.ordered_at <= emails.sent_at
        or attribution.ordered_at > {{ dbt.dateadd('day', window_days, 'emails.sent_at') }}
),

later_touch as (
    select attribution.order_id
    from attribution
    inner join emails
        on
            attribution.customer_id = emails.customer_id
            and emails.is_delivered
            and attribution.attributed_email_sent_at < emails.sent_at
            and attribution.ordered_at > emails.sent_at
),

totals_mismatch as (
    select cast('totals' as {{ dbt.type_string() }}) as order_id
    from outcomes
    cross join attributed_totals
    where
        coalesce(outcomes.attributed_orders, 0) != coalesce(attributed_totals.attributed_orders, 0)
        or abs(coalesce(outcomes.attributed_revenue, 0) - coalesce(attributed_totals.attributed_revenue, 0)) > 0.01
)

select * from bad_touch
union all
select * from later_touch
union all
select * from totals_mismatch
