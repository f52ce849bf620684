{{ config(tags=['segments']) }}
-- Consistency: the funnels of both KPI marts are ordered (sent >= delivered >= opened >= clicked;
-- delivered >= unsubscribed, complained, conversions; conversions <= attributed orders <= orders),
-- each rate is its numerator over its denominator, and a cost share never exceeds the campaign cost.
with segment_kpis as (
    select * from {{ ref('segment_kpis') }}
),

campaign_segment_kpis as (
    select * from {{ ref('campaign_segment_kpis') }}
),

segment_violations as (
    select
        'segment_kpis' as model_name,
        segment_key,
        member_group,
        cast(null as {{ dbt.type_string() }}) as campaign_id
    from segment_kpis
    where
        emails_delivered > emails_sent
        or emails_opened > emails_delivered
        or emails_clicked > emails_opened
        or emails_unsubscribed > emails_delivered
        or emails_complained > emails_delivered
        or conversions > emails_delivered
        or conversions > attributed_orders
        or attributed_orders > orders
        or attributed_revenue > revenue + 0.01
        or members_emailed > members
        or buyers > members
        or buyers > orders
        or retained_buyers > previous_period_buyers
        or previous_period_buyers > members
        or abs(coalesce(open_rate, -1) - coalesce(1.0 * emails_opened / nullif(emails_delivered, 0), -1)) > 0.000001
        or abs(coalesce(churn_rate, -1) - coalesce(1 - retention_rate, -1)) > 0.000002
),

campaign_violations as (
    select
        'campaign_segment_kpis' as model_name,
        segment_key,
        member_group,
        campaign_id
    from campaign_segment_kpis
    where
        emails_delivered > emails_sent
        or emails_opened > emails_delivered
        or emails_clicked > emails_opened
        or emails_unsubscribed > emails_delivered
        or emails_complained > emails_delivered
        or conversions > emails_delivered
        or conversions > attributed_orders
        or emails_sent > campaign_emails_sent
        or cost_share > campaign_cost + 0.005
        or abs(coalesce(open_rate, -1) - coalesce(1.0 * emails_opened / nullif(emails_delivered, 0), -1)) > 0.000001
)

select * from segment_violations
union all
select * from campaign_violations
