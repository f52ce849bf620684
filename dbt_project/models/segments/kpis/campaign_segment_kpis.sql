{%- set rates = [
    ['open_rate', 'emails_opened', 'emails_delivered'],
    ['click_through_rate', 'emails_clicked', 'emails_delivered'],
    ['click_to_open_rate', 'emails_clicked', 'emails_opened'],
    ['unsubscribe_rate', 'emails_unsubscribed', 'emails_delivered'],
    ['complaint_rate', 'emails_complained', 'emails_delivered'],
    ['conversion_rate', 'conversions', 'emails_delivered'],
] -%}
{%- set counts = [
    'emails_sent', 'emails_delivered', 'emails_opened', 'emails_clicked', 'emails_unsubscribed',
    'emails_complained', 'conversions', 'attributed_orders',
] -%}
-- Per campaign, segment and member group (all, treated, holdout): the campaign's emails to the
-- segment's current members (every email of the campaign visible on the as-of date), how they
-- engaged, what they converted (last-touch attribution) and the campaign cost allocated to them pro
-- rata to emails sent. Only combinations with at least one email. Definitions: _kpis__models.yml.
with member_groups as (
    select * from {{ ref('int_kpis__segment_member_groups') }}
),

email_outcomes as (
    select * from {{ ref('int_emails') }}
),

campaigns as (
    select * from {{ ref('stg_crm__campaigns') }}
),

-- Every member is in exactly one of the treated and holdout groups, and 'all' adds the two up.
split_members as (
    select * from member_groups
    where member_group != 'all'
),

-- Customers with the same memberships (segments and groups) form one membership set. Emails are
-- added up per campaign and set, and only those sums fan out to the set's segments.
customer_membership_sets as (
    select
        customer_id,
        {{ dbt.hash(dbt.listagg(
            dbt.concat(['segment_key', "'|'", 'member_group']), "','", 'order by segment_key'
        )) }} as membership_set
    from split_members
    group by customer_id
),

membership_set_groups as (
    select distinct
        customer_membership_sets.membership_set,
        split_members.segment_key,
        split_members.member_group
    from customer_membership_sets
    inner join split_members
        on customer_membership_sets.customer_id = split_members.customer_id
),

by_membership_set as (
    select
        email_outcomes.campaign_id,
        customer_membership_sets.membership_set,
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
    inner join customer_membership_sets
        on email_outcomes.customer_id = customer_membership_sets.customer_id
    group by email_outcomes.campaign_id, customer_membership_sets.membership_set
),

by_split_group as (
    select
        by_membership_set.campaign_id,
        membership_set_groups.segment_key,
        membership_set_groups.member_group,
        -- counts stay integers (a sum would widen the type)
        {%- for count in counts %}
        cast(sum(by_membership_set.{{ count }}) as {{ dbt.type_bigint() }}) as {{ count }},
        {%- endfor %}
        sum(by_membership_set.attributed_revenue) as attributed_revenue,
        max(by_membership_set.campaign_cost) as campaign_cost,
        max(by_membership_set.campaign_emails_sent) as campaign_emails_sent
    from by_membership_set
    inner join membership_set_groups
        on by_membership_set.membership_set = membership_set_groups.membership_set
    group by by_membership_set.campaign_id, membership_set_groups.segment_key, membership_set_groups.member_group
),

all_group as (
    select
        campaign_id,
        segment_key,
        'all' as member_group,
        {%- for count in counts %}
        cast(sum({{ count }}) as {{ dbt.type_bigint() }}) as {{ count }},
        {%- endfor %}
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
