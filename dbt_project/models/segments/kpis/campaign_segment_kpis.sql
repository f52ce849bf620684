{%- set rates = [
    ['open_rate', 'emails_opened', 'emails_delivered'],
    ['click_through_rate', 'emails_clicked', 'emails_delivered'],
    ['click_to_open_rate', 'emails_clicked', 'emails_opened'],
    ['unsubscribe_rate', 'emails_unsubscribed', 'emails_delivered'],
    ['complaint_rate', 'emails_complained', 'emails_delivered'],
    ['conversion_rate', 'conversions', 'emails_delivered'],
] -%}
-- Per campaign, segment and member group (all, treated, holdout): the campaign's emails to the
-- segment's current members (every email of the campaign visible on the as-of date), how they
-- engaged, what they converted (last-touch attribution) and the campaign cost allocated to them pro
-- rata to emails sent. Only combinations with at least one email. Definitions: _kpis__models.yml.
with member_groups as (
    select * from {{ ref('int_kpis__segment_member_groups') }}
),

email_outcomes as (
    select * from {{ ref('int_kpis__email_outcomes') }}
),

campaigns as (
    select * from {{ ref('stg_crm__campaigns') }}
),

-- Emails join the members once, in their treated or holdout group; 'all' adds the two up (every
-- member is in exactly one of them), which halves the largest join of the KPIs.
split_members as (
    select * from member_groups
    where member_group != 'all'
),

by_split_group as (
    select
        email_outcomes.campaign_id,
        split_members.segment_key,
        split_members.member_group,
        count(*) as emails_sent,
        sum(case when email_outcomes.is_delivered then 1 else 0 end) as emails_delivered,
        sum(case when email_outcomes.is_opened then 1 else 0 end) as emails_opened,
        sum(case when email_outcomes.is_clicked then 1 else 0 end) as emails_clicked,
        sum(case when email_outcomes.is_unsubscribed then 1 else 0 end) as emails_unsubscribed,
        sum(case when email_outcomes.is_complained then 1 else 0 end) as emails_complained,
        sum(case when email_outcomes.is_converted then 1 else 0 end) as conversions,
        sum(email_outcomes.attributed_orders) as attributed_orders,
        sum(email_outcomes.attributed_revenue) as attributed_revenue,
        max(email_outcomes.campaign_cost) as campaign_cost,
        max(email_outcomes.campaign_emails_sent) as campaign_emails_sent
    from email_outcomes
    inner join split_members
        on email_outcomes.customer_id = split_members.customer_id
    group by email_outcomes.campaign_id, split_members.segment_key, split_members.member_group
),

all_group as (
    select
        campaign_id,
        segment_key,
        'all' as member_group,
        -- a count, as in by_split_group (a sum would widen the type)
        cast(sum(emails_sent) as {{ dbt.type_bigint() }}) as emails_sent,
        sum(emails_delivered) as emails_delivered,
        sum(emails_opened) as emails_opened,
        sum(emails_clicked) as emails_clicked,
        sum(emails_unsubscribed) as emails_unsubscribed,
        sum(emails_complained) as emails_complained,
        sum(conversions) as conversions,
        sum(attributed_orders) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue,
        max(campaign_cost) as campaign_cost,
        max(campaign_emails_sent) as campaign_emails_sent
    from by_split_group
    group by campaign_id, segment_key
),

aggregated as (
    select * from by_split_group
    union all
    select * from all_group
),

measured as (
    select
        *,
        emails_sent - emails_delivered as emails_bounced,
        cast(
            round(cast(campaign_cost as double) * emails_sent / campaign_emails_sent, 2) as decimal(18, 2)
        ) as cost_share
    from aggregated
),

rated as (
    select
        *,
        {%- for name, numerator, denominator in rates %}
        case
            when {{ denominator }} > 0
                then cast(round(cast({{ numerator }} as double) / {{ denominator }}, 6) as decimal(18, 6))
        end as {{ name }},
        {%- endfor %}
        case
            when cost_share > 0
                then cast(round(cast(attributed_revenue as double) / cost_share - 1, 6) as decimal(18, 6))
        end as roi
    from measured
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        rated.campaign_id,
        campaigns.campaign_name,
        campaigns.sent_at as campaign_sent_at,
        rated.segment_key,
        rated.member_group,
        rated.emails_sent,
        rated.emails_delivered,
        rated.emails_bounced,
        rated.emails_opened,
        rated.emails_clicked,
        rated.emails_unsubscribed,
        rated.emails_complained,
        rated.conversions,
        rated.attributed_orders,
        cast(rated.attributed_revenue as decimal(18, 2)) as attributed_revenue,
        {%- for name, numerator, denominator in rates %}
        rated.{{ name }},
        {%- endfor %}
        rated.campaign_cost,
        rated.campaign_emails_sent,
        rated.cost_share,
        rated.roi
    from rated
    left join campaigns
        on rated.campaign_id = campaigns.campaign_id
)

select * from final
