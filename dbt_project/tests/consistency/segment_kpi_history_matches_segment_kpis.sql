-- Consistency: when the history was written for this run's date (not frozen behind a later date),
-- its rows of that date are exactly segment_kpis, column by column.
{%- set columns = adapter.get_columns_in_relation(ref('segment_kpis')) if execute else [] %}
{%- set column_list = columns | map(attribute='name') | join(', ') or '*' %}
with segment_kpis as (
    select {{ column_list }} from {{ ref('segment_kpis') }}
),

history as (
    select * from {{ ref('segment_kpi_history') }}
),

latest as (
    select max(as_of_date) as as_of_date from history
),

history_of_the_date as (
    select {{ column_list }} from history
    where as_of_date = {{ as_of_date() }}
),

-- Nothing to compare when the run's date is before the latest recorded one.
written as (
    select count(*) as runs from latest
    where as_of_date = {{ as_of_date() }}
),

missing as (
    select * from segment_kpis
    {{ dbt.except() }}
    select * from history_of_the_date
),

extra as (
    select * from history_of_the_date
    {{ dbt.except() }}
    select * from segment_kpis
),

differences as (
    select
        'missing from the history' as problem,
        segment_key,
        member_group
    from missing
    union all
    select
        'not in segment_kpis' as problem,
        segment_key,
        member_group
    from extra
)

select differences.*
from differences
cross join written
where written.runs > 0
