{{ config(schema='intermediate', materialized='view') }}
-- One row per entry into a segment: a membership interval of segment_membership_history that began
-- after the first history date (the members on that date were already there: when they entered is
-- unknown). A customer who leaves and comes back enters again, with an entry of its own. Segments of
-- the current catalogue only. The member group is the one recorded on the entry date
-- (segment_entry_groups); for entries made before that was recorded, the catalogue's rule as
-- segment_membership applies it (a stable hash of segment and customer below holdout_share).
with membership_history as (
    select * from {{ ref('segment_membership_history') }}
),

entry_groups as (
    select * from {{ ref('segment_entry_groups') }}
),

catalog as (
    select * from {{ ref('stg_segments__catalog') }}
),

runs as (
    select min(as_of_date) as first_date from {{ ref('segment_history_runs') }}
),

entries as (
    select
        membership_history.segment_key,
        membership_history.customer_id,
        membership_history.valid_from as entered_on,
        membership_history.valid_to as exited_on,
        catalog.holdout_share
    from membership_history
    inner join catalog
        on membership_history.segment_key = catalog.segment_key
    cross join runs
    where membership_history.valid_from > runs.first_date
),

grouped as (
    select
        entries.segment_key,
        entries.customer_id,
        entries.entered_on,
        entries.exited_on,
        coalesce(
            entry_groups.is_holdout,
            {{ is_in_holdout('entries') }}
        ) as is_holdout,
        entry_groups.is_holdout is not null as is_group_recorded
    from entries
    left join entry_groups
        on
            entries.segment_key = entry_groups.segment_key
            and entries.customer_id = entry_groups.customer_id
            and entries.entered_on = entry_groups.entered_on
),

final as (
    select
        segment_key,
        customer_id,
        entered_on,
        exited_on,
        cast({{ dbt.date_trunc('week', 'entered_on') }} as date) as entry_week,
        case when is_holdout then 'holdout' else 'treated' end as member_group,
        is_group_recorded
    from grouped
)

select * from final
