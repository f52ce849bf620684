-- One row per day from 1990-01-01 to a year after the as-of date: MetricFlow's time spine.
with days as (
    {{ dbt.date_spine('day', "cast('1990-01-01' as date)", dbt.dateadd('day', 366, as_of_date())) }}
),

final as (
    select cast(date_day as date) as date_day
    from days
)

select * from final
