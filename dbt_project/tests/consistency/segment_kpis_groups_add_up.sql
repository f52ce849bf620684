{{ config(tags=['segments']) }}
-- Consistency: in both KPI marts the count and money columns of 'treated' and 'holdout' add up to
-- 'all' for every segment (and campaign). Returns the groups that don't.
{%- set segment_columns = [
    'members', 'members_emailed', 'emails_sent', 'emails_delivered', 'emails_opened', 'emails_clicked',
    'emails_unsubscribed', 'emails_complained', 'conversions', 'attributed_orders', 'attributed_revenue',
    'buyers', 'orders', 'revenue', 'previous_period_buyers', 'retained_buyers',
] %}
{%- set campaign_columns = [
    'emails_sent', 'emails_delivered', 'emails_opened', 'emails_clicked', 'emails_unsubscribed',
    'emails_complained', 'conversions', 'attributed_orders', 'attributed_revenue',
] %}

with segment_gaps as (
    select
        'segment_kpis' as model_name,
        segment_key,
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        {% for column in segment_columns %}
        sum(case when member_group = 'all' then {{ column }} else -{{ column }} end) as {{ column }}_gap,
        {% endfor %}
        count(*) as group_rows
    from {{ ref('segment_kpis') }}
    group by segment_key
),

campaign_gaps as (
    select
        'campaign_segment_kpis' as model_name,
        segment_key,
        campaign_id,
        {% for column in campaign_columns %}
        sum(case when member_group = 'all' then {{ column }} else -{{ column }} end) as {{ column }}_gap,
        {% endfor %}
        count(*) as group_rows
    from {{ ref('campaign_segment_kpis') }}
    group by segment_key, campaign_id
)

select
    model_name,
    segment_key,
    campaign_id
from segment_gaps
where
    1 = 0
    {% for column in segment_columns %}
    or {{ column }}_gap != 0
    {% endfor %}

union all

select
    model_name,
    segment_key,
    campaign_id
from campaign_gaps
where
    1 = 0
    {% for column in campaign_columns %}
    or {{ column }}_gap != 0
    {% endfor %}
