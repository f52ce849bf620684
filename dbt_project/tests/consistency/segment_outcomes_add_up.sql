-- Consistency of the entry cohorts and the uplift. Returns a row per broken rule:
-- - a cohort's open window has only null measures, a closed one none, and its counts are ordered
--   (contacted, buyers, unsubscribes, complaints <= entered; buyers, conversions <= orders);
-- - a longer window is open whenever a shorter one is, and counts at least as much once closed;
-- - the uplift's sample sizes and buyers are the sums of the closed cohorts';
-- - every interval contains its difference.
{%- set windows = outcome_windows() %}
{%- set measures = [
    'contacted', 'buyers', 'conversion_rate', 'conversions', 'orders', 'revenue', 'revenue_per_member',
    'unsubscribes', 'complaints',
] %}
with cohorts as (
    select * from {{ ref('segment_entry_outcomes') }}
),

uplift as (
    select * from {{ ref('segment_uplift') }}
),

cohort_problems as (
    {%- for window in windows %}
    {%- set shorter = windows[loop.index0 - 1] if not loop.first else none %}
    select
        segment_key,
        '{{ window }}d' as window_name,
        {{ dbt.concat(["'cohort '", "cast(entry_week as " ~ dbt.type_string() ~ ")", "' '", "member_group"]) }}
            as problem
    from cohorts
    where
        (
            is_open_{{ window }}d
            and (
                1 = 0
                {%- for measure in measures %}
                or {{ measure }}_{{ window }}d is not null
                {%- endfor %}
                or email_cost_{{ window }}d is not null
            )
        )
        or (
            not is_open_{{ window }}d
            and (
                1 = 0
                {%- for measure in measures %}
                or {{ measure }}_{{ window }}d is null
                {%- endfor %}
                or contacted_{{ window }}d > entered
                or buyers_{{ window }}d > entered
                or unsubscribes_{{ window }}d > entered
                or complaints_{{ window }}d > entered
                or buyers_{{ window }}d > orders_{{ window }}d
                or conversions_{{ window }}d > orders_{{ window }}d
                {%- if shorter %}
                or is_open_{{ shorter }}d
                or orders_{{ window }}d < orders_{{ shorter }}d
                or revenue_{{ window }}d < revenue_{{ shorter }}d
                or buyers_{{ window }}d < buyers_{{ shorter }}d
                or contacted_{{ window }}d < contacted_{{ shorter }}d
                {%- endif %}
            )
        )
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

closed_cohorts as (
    {%- for window in windows %}
    select
        segment_key,
        {{ window }} as window_days,
        sum(case when member_group = 'treated' then entered else 0 end) as treated_members,
        sum(case when member_group = 'holdout' then entered else 0 end) as holdout_members,
        sum(case when member_group = 'treated' then buyers_{{ window }}d else 0 end) as treated_buyers,
        sum(case when member_group = 'holdout' then buyers_{{ window }}d else 0 end) as holdout_buyers
    from cohorts
    where not is_open_{{ window }}d
    group by segment_key
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

uplift_problems as (
    select
        uplift.segment_key,
        {{ dbt.concat(["cast(uplift.window_days as " ~ dbt.type_string() ~ ")", "'d'"]) }} as window_name,
        'uplift' as problem
    from uplift
    left join closed_cohorts
        on
            uplift.segment_key = closed_cohorts.segment_key
            and uplift.window_days = closed_cohorts.window_days
    where
        uplift.treated_members != coalesce(closed_cohorts.treated_members, 0)
        or uplift.holdout_members != coalesce(closed_cohorts.holdout_members, 0)
        or uplift.treated_buyers != coalesce(closed_cohorts.treated_buyers, 0)
        or uplift.holdout_buyers != coalesce(closed_cohorts.holdout_buyers, 0)
        or uplift.conversion_rate_difference < uplift.conversion_rate_difference_ci_lower
        or uplift.conversion_rate_difference > uplift.conversion_rate_difference_ci_upper
        or uplift.revenue_per_member_difference < uplift.revenue_per_member_difference_ci_lower
        or uplift.revenue_per_member_difference > uplift.revenue_per_member_difference_ci_upper
)

select * from cohort_problems
union all
select * from uplift_problems
