-- Per history date and segment: members on that date, and how many entered and left on it.
-- Built from the membership intervals, so it covers every date the history was built for.
-- The first history date is where the history starts (is_history_start): its members were already
-- there, so entered and exited are null on it rather than "everyone entered".
with membership_history as (
    select * from {{ ref('segment_membership_history') }}
),

runs as (
    select as_of_date from {{ ref('segment_history_runs') }}
),

history_start as (
    select min(as_of_date) as first_date from runs
),

segments as (
    select distinct segment_key from membership_history
),

entered as (
    select
        segment_key,
        valid_from as as_of_date,
        count(*) as entered
    from membership_history
    group by segment_key, valid_from
),

exited as (
    select
        segment_key,
        valid_to as as_of_date,
        count(*) as exited
    from membership_history
    where valid_to is not null
    group by segment_key, valid_to
),

daily as (
    select
        runs.as_of_date,
        segments.segment_key,
        coalesce(entered.entered, 0) as entered,
        coalesce(exited.exited, 0) as exited
    from runs
    cross join segments
    left join entered
        on
            segments.segment_key = entered.segment_key
            and runs.as_of_date = entered.as_of_date
    left join exited
        on
            segments.segment_key = exited.segment_key
            and runs.as_of_date = exited.as_of_date
),

final as (
    select
        daily.as_of_date,
        daily.segment_key,
        sum(daily.entered - daily.exited) over (
            partition by daily.segment_key
            order by daily.as_of_date rows between unbounded preceding and current row
        ) as members,
        case when daily.as_of_date > history_start.first_date then daily.entered end as entered,
        case when daily.as_of_date > history_start.first_date then daily.exited end as exited,
        daily.as_of_date = history_start.first_date as is_history_start
    from daily
    cross join history_start
)

select * from final
