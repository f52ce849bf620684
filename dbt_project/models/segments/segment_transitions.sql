-- Moves between values, per customer: of the RFM segment, lifecycle status and engagement status
-- (from customer_status_history) and of the segment held in each exclusive group (from
-- segment_membership_history; dimension 'exclusive_group:<group>', null = outside the group).
-- Nothing is a transition on the first date the history was built: that date is where it starts.
{%- set statuses = ['rfm_segment', 'lifecycle_status', 'engagement_status'] %}
with status_history as (
    select * from {{ ref('customer_status_history') }}
),

membership_history as (
    select * from {{ ref('segment_membership_history') }}
),

catalog as (
    select
        segment_key,
        exclusive_group
    from {{ ref('stg_segments__catalog') }}
),

runs as (
    select min(as_of_date) as first_date from {{ ref('segment_history_runs') }}
),

status_steps as (
    select
        customer_id,
        valid_from,
        {%- for status in statuses %}
        {{ status }},
        lag({{ status }}) over (partition by customer_id order by valid_from) as previous_{{ status }},
        {%- endfor %}
        lag(valid_to) over (partition by customer_id order by valid_from) as previous_valid_to
    from status_history
),

status_transitions as (
    {%- for status in statuses %}
    select
        customer_id,
        '{{ status }}' as dimension,
        previous_{{ status }} as from_value,
        {{ status }} as to_value,
        valid_from as transitioned_on
    from status_steps
    where
        coalesce(previous_{{ status }}, '') != coalesce({{ status }}, '')
        and (previous_valid_to = valid_from or previous_valid_to is null)
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

group_intervals as (
    select
        membership_history.customer_id,
        catalog.exclusive_group,
        membership_history.segment_key,
        membership_history.valid_from,
        membership_history.valid_to
    from membership_history
    inner join catalog
        on membership_history.segment_key = catalog.segment_key
    where catalog.exclusive_group is not null
),

group_entries as (
    select
        customer_id,
        exclusive_group,
        valid_from as changed_on,
        segment_key
    from group_intervals
),

group_exits as (
    select
        customer_id,
        exclusive_group,
        valid_to as changed_on,
        segment_key
    from group_intervals
    where valid_to is not null
),

group_transitions as (
    select
        coalesce(group_exits.customer_id, group_entries.customer_id) as customer_id,
        {{ dbt.concat([
            "'exclusive_group:'",
            "coalesce(group_exits.exclusive_group, group_entries.exclusive_group)",
        ]) }} as dimension,
        group_exits.segment_key as from_value,
        group_entries.segment_key as to_value,
        coalesce(group_exits.changed_on, group_entries.changed_on) as transitioned_on
    from group_exits
    full outer join group_entries
        on
            group_exits.customer_id = group_entries.customer_id
            and group_exits.exclusive_group = group_entries.exclusive_group
            and group_exits.changed_on = group_entries.changed_on
),

unioned as (
    select * from status_transitions
    union all
    select * from group_transitions
)

select unioned.*
from unioned
cross join runs
where unioned.transitioned_on > runs.first_date
