-- Every buyer's value lies within the range marts.rfm_cut_points records for their score on the
-- as-of date of customer_rfm, and each score's buyer count is right: the cut points shown to a
-- marketer are the ones that scored. Returns the buyers (or counts) that disagree.
with customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

cut_points as (
    select * from {{ ref('rfm_cut_points') }}
),

{%- set dimensions = rfm_dimensions() %}

buyer_values as (
    {%- for dimension in dimensions %}
    select
        customer_id,
        as_of_date,
        '{{ dimension.name }}' as dimension,
        {{ dimension.score }} as score,
        cast({{ dimension.metric }} as decimal(18, 2)) as metric_value
    from customer_rfm
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

outside as (
    select
        buyer_values.customer_id,
        buyer_values.dimension,
        buyer_values.score,
        buyer_values.metric_value,
        cut_points.lower_bound,
        cut_points.upper_bound
    from buyer_values
    inner join cut_points
        on
            buyer_values.as_of_date = cut_points.as_of_date
            and buyer_values.dimension = cut_points.dimension
            and buyer_values.score = cut_points.score
    where
        buyer_values.metric_value < cut_points.lower_bound
        or buyer_values.metric_value > cut_points.upper_bound
),

rfm_dates as (
    select distinct as_of_date from customer_rfm
),

counted as (
    select
        as_of_date,
        dimension,
        score,
        count(*) as buyers
    from buyer_values
    group by as_of_date, dimension, score
),

miscounted as (
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cut_points.dimension,
        cut_points.score,
        cast(null as decimal(18, 2)) as metric_value,
        cut_points.lower_bound,
        cut_points.upper_bound
    from cut_points
    inner join rfm_dates
        on cut_points.as_of_date = rfm_dates.as_of_date
    left join counted
        on
            cut_points.as_of_date = counted.as_of_date
            and cut_points.dimension = counted.dimension
            and cut_points.score = counted.score
    where cut_points.buyers != coalesce(counted.buyers, 0)
)

select * from outside
union all
select * from miscounted
