{%- set windows = outcome_windows() -%}
{%- set min_holdout = var('uplift_min_holdout_members') -%}
{%- if min_holdout is not number or min_holdout is sameas true
    or min_holdout < 2 or min_holdout != min_holdout | int -%}
    {{ exceptions.raise_compiler_error(
        "var uplift_min_holdout_members must be a whole number, at least 2, got '" ~ min_holdout ~ "'"
    ) }}
{%- endif -%}
{%- set min_expected_buyers = var('uplift_min_expected_holdout_buyers') -%}
{%- if min_expected_buyers is not number or min_expected_buyers is sameas true or min_expected_buyers < 0 -%}
    {{ exceptions.raise_compiler_error(
        "var uplift_min_expected_holdout_buyers must be a number, at least 0, got '" ~ min_expected_buyers ~ "'"
    ) }}
{%- endif -%}
-- What contacting a segment changed: per segment of the catalogue and outcome window, the treated
-- entries against the holdout entries, pooled over every entry week whose window has closed (the
-- first history date's members excluded: int_segment_entries). Conversion = the member bought
-- within the window. Differences are treated − holdout, with 95% intervals: Newcombe's hybrid
-- score interval (from two Wilson intervals) for the conversion rate, Welch's t interval for the
-- revenue per member. The holdout is too small to tell anything below var
-- uplift_min_holdout_members entries or var uplift_min_expected_holdout_buyers expected buyers.
-- Definitions: _outcomes__models.yml.
with entry_outcomes as (
    select * from {{ ref('int_segment_entry_outcomes') }}
),

catalog as (
    select segment_key from {{ ref('stg_segments__catalog') }}
),

windows as (
    {%- for window in windows %}
    select {{ window }} as window_days
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

-- One row per entry and window.
entry_windows as (
    {%- for window in windows %}
    select
        segment_key,
        member_group,
        entry_week,
        {{ window }} as window_days,
        is_open_{{ window }}d as is_open,
        is_contacted_{{ window }}d as is_contacted,
        orders_{{ window }}d as orders,
        cast(revenue_{{ window }}d as {{ dbt.type_float() }}) as revenue,
        emails_without_cost_{{ window }}d as emails_without_cost,
        email_cost_{{ window }}d as email_cost
    from entry_outcomes
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

by_group as (
    select
        segment_key,
        window_days,
        member_group,
        min(entry_week) as first_entry_week,
        max(entry_week) as last_entry_week,
        count(*) as members,
        sum(case when orders > 0 then 1 else 0 end) as buyers,
        sum(case when is_contacted then 1 else 0 end) as contacted,
        sum(revenue) as revenue,
        var_samp(revenue) as revenue_variance,
        sum(emails_without_cost) as emails_without_cost,
        sum(email_cost) as email_cost
    from entry_windows
    where not is_open
    group by segment_key, window_days, member_group
),

open_entries as (
    select
        segment_key,
        window_days,
        count(*) as entries_in_open_windows
    from entry_windows
    where is_open
    group by segment_key, window_days
),

paired as (
    select
        catalog.segment_key,
        windows.window_days,
        case
            when holdout.first_entry_week is null or treated.first_entry_week <= holdout.first_entry_week
                then treated.first_entry_week
            else holdout.first_entry_week
        end as first_entry_week,
        case
            when holdout.last_entry_week is null or treated.last_entry_week >= holdout.last_entry_week
                then treated.last_entry_week
            else holdout.last_entry_week
        end as last_entry_week,
        coalesce(open_entries.entries_in_open_windows, 0) as entries_in_open_windows,
        coalesce(treated.members, 0) as treated_members,
        coalesce(holdout.members, 0) as holdout_members,
        coalesce(treated.contacted, 0) as treated_contacted,
        coalesce(holdout.contacted, 0) as holdout_contacted,
        coalesce(treated.buyers, 0) as treated_buyers,
        coalesce(holdout.buyers, 0) as holdout_buyers,
        treated.revenue / treated.members as treated_mean,
        holdout.revenue / holdout.members as holdout_mean,
        treated.revenue_variance / treated.members as treated_mean_variance,
        holdout.revenue_variance / holdout.members as holdout_mean_variance,
        -- an email of unknown cost makes the group's cost unknown
        case when treated.emails_without_cost = 0 then treated.email_cost end as treated_email_cost,
        case when holdout.emails_without_cost = 0 then holdout.email_cost end as holdout_email_cost
    from catalog
    cross join windows
    left join by_group as treated
        on
            catalog.segment_key = treated.segment_key
            and windows.window_days = treated.window_days
            and treated.member_group = 'treated'
    left join by_group as holdout
        on
            catalog.segment_key = holdout.segment_key
            and windows.window_days = holdout.window_days
            and holdout.member_group = 'holdout'
    left join open_entries
        on
            catalog.segment_key = open_entries.segment_key
            and windows.window_days = open_entries.window_days
),

-- Welch: the standard error of the difference of the means and its Welch–Satterthwaite degrees of
-- freedom; both need at least two members per group and some variance.
welch as (
    select
        *,
        case
            when treated_members >= 2 and holdout_members >= 2
                then treated_mean_variance + holdout_mean_variance
        end as mean_difference_variance
    from paired
),

welch_df as (
    select
        *,
        case
            when mean_difference_variance > 0
                then
                    power(mean_difference_variance, 2)
                    / (
                        power(treated_mean_variance, 2) / (treated_members - 1)
                        + power(holdout_mean_variance, 2) / (holdout_members - 1)
                    )
        end as revenue_welch_df
    from welch
),

estimated as (
    select
        *,
        cast(treated_buyers as {{ dbt.type_float() }}) / nullif(treated_members, 0) as treated_rate,
        cast(holdout_buyers as {{ dbt.type_float() }}) / nullif(holdout_members, 0) as holdout_rate,
        {{ newcombe_difference_bound(
            'treated_buyers', 'treated_members', 'holdout_buyers', 'holdout_members', 'lower'
        ) }} as rate_ci_lower,
        {{ newcombe_difference_bound(
            'treated_buyers', 'treated_members', 'holdout_buyers', 'holdout_members', 'upper'
        ) }} as rate_ci_upper,
        treated_mean - holdout_mean as mean_difference,
        {{ student_t_975('revenue_welch_df') }} * sqrt(mean_difference_variance) as mean_margin,
        treated_email_cost / nullif(treated_members, 0)
        - holdout_email_cost / nullif(holdout_members, 0) as cost_difference_per_member,
        -- the holdout's buyers if it bought at the rate of both groups together
        holdout_members * cast(treated_buyers + holdout_buyers as {{ dbt.type_float() }})
        / nullif(treated_members + holdout_members, 0) as expected_holdout_buyers
    from welch_df
),

judged as (
    select
        *,
        (
            holdout_members < {{ min_holdout }}
            or coalesce(expected_holdout_buyers, 0) < {{ min_expected_buyers }}
        ) as is_holdout_too_small,
        mean_difference * treated_members as incremental_revenue_raw,
        cost_difference_per_member * treated_members as incremental_cost_raw,
        case
            when treated_members = 0 and holdout_members = 0 then 'no_closed_entries'
            when holdout_members = 0 then 'no_holdout'
            when treated_members = 0 then 'no_treated'
            when
                holdout_members < {{ min_holdout }}
                or expected_holdout_buyers < {{ min_expected_buyers }}
                then 'holdout_too_small'
        end as sample_verdict
    from estimated
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        segment_key,
        window_days,
        first_entry_week,
        last_entry_week,
        treated_members,
        holdout_members,
        entries_in_open_windows,
        treated_contacted,
        holdout_contacted,
        treated_buyers,
        holdout_buyers,
        cast(round(treated_rate, 6) as decimal(18, 6)) as treated_conversion_rate,
        cast(round(holdout_rate, 6) as decimal(18, 6)) as holdout_conversion_rate,
        cast(round(treated_rate - holdout_rate, 6) as decimal(18, 6)) as conversion_rate_difference,
        cast(round(rate_ci_lower, 6) as decimal(18, 6)) as conversion_rate_difference_ci_lower,
        cast(round(rate_ci_upper, 6) as decimal(18, 6)) as conversion_rate_difference_ci_upper,
        cast(round(treated_mean, 2) as decimal(18, 2)) as treated_revenue_per_member,
        cast(round(holdout_mean, 2) as decimal(18, 2)) as holdout_revenue_per_member,
        cast(round(mean_difference, 2) as decimal(18, 2)) as revenue_per_member_difference,
        cast(round(mean_difference - mean_margin, 2) as decimal(18, 2)) as revenue_per_member_difference_ci_lower,
        cast(round(mean_difference + mean_margin, 2) as decimal(18, 2)) as revenue_per_member_difference_ci_upper,
        cast(round(revenue_welch_df, 2) as decimal(18, 2)) as revenue_welch_df,
        cast(round(incremental_revenue_raw, 2) as decimal(18, 2)) as incremental_revenue,
        cast(round((mean_difference - mean_margin) * treated_members, 2) as decimal(18, 2))
            as incremental_revenue_ci_lower,
        cast(round((mean_difference + mean_margin) * treated_members, 2) as decimal(18, 2))
            as incremental_revenue_ci_upper,
        cast(round(treated_email_cost, 2) as decimal(18, 2)) as treated_email_cost,
        cast(round(holdout_email_cost, 2) as decimal(18, 2)) as holdout_email_cost,
        cast(round(incremental_cost_raw, 2) as decimal(18, 2)) as incremental_cost,
        case
            when incremental_cost_raw > 0
                then
                    cast(
                        round((incremental_revenue_raw - incremental_cost_raw) / incremental_cost_raw, 6)
                        as decimal(18, 6)
                    )
        end as roi,
        cast(round(expected_holdout_buyers, 2) as decimal(18, 2)) as expected_holdout_buyers,
        is_holdout_too_small,
        coalesce(
            sample_verdict,
            case
                when rate_ci_lower > 0 then 'treated_higher'
                when rate_ci_upper < 0 then 'treated_lower'
                else 'no_clear_difference'
            end
        ) as conversion_verdict,
        coalesce(
            sample_verdict,
            case
                when mean_difference - mean_margin > 0 then 'treated_higher'
                when mean_difference + mean_margin < 0 then 'treated_lower'
                else 'no_clear_difference'
            end
        ) as revenue_verdict
    from judged
)

select * from final
