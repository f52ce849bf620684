{%- set windows = outcome_windows() -%}
-- Entry cohorts: per segment, entry week and member group (treated / holdout), the members who
-- entered and what they did in each outcome window after their entry (var outcome_windows_days,
-- default 7, 30 and 90 days; one set of columns per window, suffixed _<N>d). An open window (not
-- fully elapsed on the as-of date for every entry of the week) has is_open_<N>d true and null
-- measures (every entry of a week shares is_open_<N>d). Definitions: _outcomes__models.yml.
with entry_outcomes as (
    select * from {{ ref('int_segment_entry_outcomes') }}
),

aggregated as (
    select
        segment_key,
        entry_week,
        member_group,
        min(entered_on) as first_entered_on,
        max(entered_on) as last_entered_on,
        {%- for window in windows %}
        max(case when is_open_{{ window }}d then 1 else 0 end) = 1 as is_open_{{ window }}d,
        sum(case when is_contacted_{{ window }}d then 1 else 0 end) as contacted_{{ window }}d,
        sum(case when orders_{{ window }}d > 0 then 1 else 0 end) as buyers_{{ window }}d,
        sum(conversions_{{ window }}d) as conversions_{{ window }}d,
        sum(orders_{{ window }}d) as orders_{{ window }}d,
        sum(revenue_{{ window }}d) as revenue_{{ window }}d,
        sum(case when is_unsubscribed_{{ window }}d then 1 else 0 end) as unsubscribes_{{ window }}d,
        sum(case when is_complained_{{ window }}d then 1 else 0 end) as complaints_{{ window }}d,
        sum(emails_sent_{{ window }}d) as emails_sent_{{ window }}d,
        sum(emails_without_cost_{{ window }}d) as emails_without_cost_{{ window }}d,
        sum(email_cost_{{ window }}d) as email_cost_{{ window }}d,
        {%- endfor %}
        count(*) as entered
    from entry_outcomes
    group by segment_key, entry_week, member_group
),

final as (
    select
        segment_key,
        entry_week,
        member_group,
        first_entered_on,
        last_entered_on,
        entered,
        {%- for window in windows %}
        is_open_{{ window }}d,
        case when not is_open_{{ window }}d then contacted_{{ window }}d end as contacted_{{ window }}d,
        case when not is_open_{{ window }}d then buyers_{{ window }}d end as buyers_{{ window }}d,
        case
            when not is_open_{{ window }}d
                then cast(round(cast(buyers_{{ window }}d as {{ dbt.type_float() }}) / entered, 6) as decimal(18, 6))
        end as conversion_rate_{{ window }}d,
        case when not is_open_{{ window }}d then conversions_{{ window }}d end as conversions_{{ window }}d,
        case when not is_open_{{ window }}d then orders_{{ window }}d end as orders_{{ window }}d,
        case
            when not is_open_{{ window }}d then cast(revenue_{{ window }}d as decimal(18, 2))
        end as revenue_{{ window }}d,
        case
            when not is_open_{{ window }}d
                then cast(round(cast(revenue_{{ window }}d as {{ dbt.type_float() }}) / entered, 2) as decimal(18, 2))
        end as revenue_per_member_{{ window }}d,
        case when not is_open_{{ window }}d then unsubscribes_{{ window }}d end as unsubscribes_{{ window }}d,
        case when not is_open_{{ window }}d then complaints_{{ window }}d end as complaints_{{ window }}d,
        -- known when every email of the window has a known cost; 0 when none was sent
        case
            when not is_open_{{ window }}d and emails_without_cost_{{ window }}d = 0
                then cast(round(email_cost_{{ window }}d, 2) as decimal(18, 2))
        end as email_cost_{{ window }}d,
        {%- endfor %}
        {{ as_of_date() }} as as_of_date
    from aggregated
)

select * from final
