{%- set lookback_days = whole_days_var('kpi_lookback_days') -%}
{#- The period is the lookback_days days ending with the as-of day; the previous period the same
    number of days just before it. Both as half-open timestamp ranges [start, next start). -#}
{%- set period_start = dbt.dateadd('day', -lookback_days, as_of_cutoff()) -%}
{%- set previous_period_start = dbt.dateadd('day', -2 * lookback_days, as_of_cutoff()) -%}
{%- set rates = [
    ['open_rate', 'emails_opened', 'emails_delivered'],
    ['click_through_rate', 'emails_clicked', 'emails_delivered'],
    ['click_to_open_rate', 'emails_clicked', 'emails_opened'],
    ['unsubscribe_rate', 'emails_unsubscribed', 'emails_delivered'],
    ['complaint_rate', 'emails_complained', 'emails_delivered'],
    ['conversion_rate', 'conversions', 'emails_delivered'],
    ['retention_rate', 'retained_buyers', 'previous_period_buyers'],
    ['churn_rate', 'churned_buyers', 'previous_period_buyers'],
] -%}
-- Per segment and member group (all, treated, holdout): the current members (as of the as-of date)
-- and what they did in the period (var kpi_lookback_days days ending with the as-of day): the
-- emails they were sent and how they engaged, conversions, revenue, retention against the previous
-- period, predicted CLV and the return on the campaign cost. Definitions: _kpis__models.yml.
with member_groups as (
    select * from {{ ref('int_kpis__segment_member_groups') }}
),

catalog as (
    select segment_key from {{ ref('stg_segments__catalog') }}
),

email_outcomes as (
    select * from {{ ref('int_emails') }}
),

order_attribution as (
    select * from {{ ref('int_kpis__order_attribution') }}
),

predicted_clv as (
    select * from {{ ref('int_kpis__predicted_clv') }}
),

groups as (
    select 'all' as member_group
    union all
    select 'treated' as member_group
    union all
    select 'holdout' as member_group
),

spine as (
    select
        catalog.segment_key,
        groups.member_group
    from catalog
    cross join groups
),

customer_emails as (
    select
        customer_id,
        count(*) as emails_sent,
        sum(case when is_delivered then 1 else 0 end) as emails_delivered,
        sum(case when is_opened then 1 else 0 end) as emails_opened,
        sum(case when is_clicked then 1 else 0 end) as emails_clicked,
        sum(case when is_unsubscribed then 1 else 0 end) as emails_unsubscribed,
        sum(case when is_complained then 1 else 0 end) as emails_complained,
        sum(case when is_converted then 1 else 0 end) as conversions,
        sum(attributed_orders) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue,
        sum(email_cost) as email_cost,
        sum(case when email_cost is null then 1 else 0 end) as emails_without_cost
    from email_outcomes
    where sent_at >= {{ period_start }}
    group by customer_id
),

customer_orders as (
    select
        customer_id,
        sum(case when ordered_at >= {{ period_start }} then 1 else 0 end) as orders,
        sum(case when ordered_at >= {{ period_start }} then amount_reporting else 0 end) as revenue,
        max(case when ordered_at < {{ period_start }} then 1 else 0 end) as bought_in_previous_period
    from order_attribution
    where ordered_at >= {{ previous_period_start }}
    group by customer_id
),

aggregated as (
    select
        member_groups.segment_key,
        member_groups.member_group,
        count(*) as members,
        sum(case when customer_emails.emails_sent > 0 then 1 else 0 end) as members_emailed,
        sum(customer_emails.emails_sent) as emails_sent,
        sum(customer_emails.emails_delivered) as emails_delivered,
        sum(customer_emails.emails_opened) as emails_opened,
        sum(customer_emails.emails_clicked) as emails_clicked,
        sum(customer_emails.emails_unsubscribed) as emails_unsubscribed,
        sum(customer_emails.emails_complained) as emails_complained,
        sum(customer_emails.conversions) as conversions,
        sum(customer_emails.attributed_orders) as attributed_orders,
        sum(customer_emails.attributed_revenue) as attributed_revenue,
        sum(customer_emails.email_cost) as email_cost,
        sum(customer_emails.emails_without_cost) as emails_without_cost,
        sum(case when customer_orders.orders > 0 then 1 else 0 end) as buyers,
        sum(customer_orders.orders) as orders,
        sum(customer_orders.revenue) as revenue,
        sum(customer_orders.bought_in_previous_period) as previous_period_buyers,
        sum(
            case when customer_orders.bought_in_previous_period = 1 and customer_orders.orders > 0 then 1 else 0 end
        ) as retained_buyers,
        count(predicted_clv.predicted_clv_12m) as members_with_predicted_clv,
        avg(predicted_clv.predicted_clv_12m) as avg_predicted_clv_12m
    from member_groups
    left join customer_emails
        on member_groups.customer_id = customer_emails.customer_id
    left join customer_orders
        on member_groups.customer_id = customer_orders.customer_id
    left join predicted_clv
        on member_groups.customer_id = predicted_clv.customer_id
    group by member_groups.segment_key, member_groups.member_group
),

counted as (
    select
        spine.segment_key,
        spine.member_group,
        coalesce(aggregated.members, 0) as members,
        coalesce(aggregated.members_emailed, 0) as members_emailed,
        coalesce(aggregated.emails_sent, 0) as emails_sent,
        coalesce(aggregated.emails_delivered, 0) as emails_delivered,
        coalesce(aggregated.emails_sent, 0) - coalesce(aggregated.emails_delivered, 0) as emails_bounced,
        coalesce(aggregated.emails_opened, 0) as emails_opened,
        coalesce(aggregated.emails_clicked, 0) as emails_clicked,
        coalesce(aggregated.emails_unsubscribed, 0) as emails_unsubscribed,
        coalesce(aggregated.emails_complained, 0) as emails_complained,
        coalesce(aggregated.conversions, 0) as conversions,
        coalesce(aggregated.attributed_orders, 0) as attributed_orders,
        cast(coalesce(aggregated.attributed_revenue, 0) as decimal(18, 2)) as attributed_revenue,
        coalesce(aggregated.buyers, 0) as buyers,
        coalesce(aggregated.orders, 0) as orders,
        cast(coalesce(aggregated.revenue, 0) as decimal(18, 2)) as revenue,
        coalesce(aggregated.previous_period_buyers, 0) as previous_period_buyers,
        coalesce(aggregated.retained_buyers, 0) as retained_buyers,
        coalesce(aggregated.previous_period_buyers, 0) - coalesce(aggregated.retained_buyers, 0) as churned_buyers,
        coalesce(aggregated.members_with_predicted_clv, 0) as members_with_predicted_clv,
        cast(round(aggregated.avg_predicted_clv_12m, 2) as decimal(18, 2)) as avg_predicted_clv_12m,
        -- Known only when every email of the period has a campaign with a known cost.
        case
            when aggregated.emails_sent > 0 and aggregated.emails_without_cost = 0
                then cast(round(aggregated.email_cost, 2) as decimal(18, 2))
        end as campaign_cost
    from spine
    left join aggregated
        on
            spine.segment_key = aggregated.segment_key
            and spine.member_group = aggregated.member_group
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        segment_key,
        member_group,
        cast({{ dbt.dateadd('day', 1 - lookback_days, as_of_date()) }} as date) as period_start,
        {{ as_of_date() }} as period_end,
        members,
        members_emailed,
        emails_sent,
        emails_delivered,
        emails_bounced,
        emails_opened,
        emails_clicked,
        emails_unsubscribed,
        emails_complained,
        conversions,
        attributed_orders,
        attributed_revenue,
        buyers,
        orders,
        revenue,
        previous_period_buyers,
        retained_buyers,
        churned_buyers,
        {%- for name, numerator, denominator in rates %}
        case
            when {{ denominator }} > 0
                then cast(round(cast({{ numerator }} as double) / {{ denominator }}, 6) as decimal(18, 6))
        end as {{ name }},
        {%- endfor %}
        case
            when orders > 0 then cast(round(cast(revenue as double) / orders, 2) as decimal(18, 2))
        end as avg_order_value,
        case
            when members > 0 then cast(round(cast(revenue as double) / members, 2) as decimal(18, 2))
        end as revenue_per_member,
        members_with_predicted_clv,
        avg_predicted_clv_12m,
        campaign_cost,
        case
            when campaign_cost > 0
                then cast(round(cast(attributed_revenue as double) / campaign_cost - 1, 6) as decimal(18, 6))
        end as roi
    from counted
)

select * from final
