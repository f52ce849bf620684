{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['as_of_date'],
    on_schema_change='fail',
) }}
-- The RFM cut points actually used, per as-of date: one row per dimension (recency, frequency,
-- monetary) and score with the inclusive range of values that get that score, in days, orders or
-- the reporting currency (upper_bound null: no upper limit), so R=3 reads "74-284 days".
-- Cut points are recomputed from customer_rfm with the macros that scored it (macros/rfm.sql).
-- Kept like segment_history_runs: re-running a date rewrites its rows (delete+insert on
-- as_of_date); a date before the latest recorded one leaves the table as it is.
{% if history_is_frozen('as_of_date') %}
select * from {{ this }} where 1 = 0
{% else %}
{%- set dimensions = rfm_dimensions() %}
with customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

cut_points as (
    select
        {{ rfm_cut_columns('recency_days') }},
        {{ rfm_cut_columns('frequency') }},
        {{ rfm_cut_columns('monetary') }}
    {#- Quantiles come from the buyers; thresholds are one row of literals. #}
    {%- if rfm_method() == 'quantile' %}
    from customer_rfm
    {%- endif %}
),

bounds as (
    {%- for dimension in dimensions %}
    {%- set outer_loop = loop %}
    {%- for score in range(rfm_bins(), 0, -1) %}
    select
        '{{ dimension.name }}' as dimension,
        {{ outer_loop.index }} as dimension_order,
        '{{ dimension.unit }}' as unit,
        {{ score }} as score,
        {{ rfm_score_bound(dimension, score, 'lower') }} as lower_bound,
        {{ rfm_score_bound(dimension, score, 'upper') }} as upper_bound
    from cut_points
    {{ 'union all' if not (outer_loop.last and loop.last) }}
    {%- endfor %}
    {%- endfor %}
),

buyers_per_score as (
    {%- for dimension in dimensions %}
    select
        '{{ dimension.name }}' as dimension,
        {{ dimension.score }} as score,
        count(*) as buyers
    from customer_rfm
    group by {{ dimension.score }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        bounds.dimension,
        bounds.dimension_order,
        bounds.score,
        bounds.lower_bound,
        bounds.upper_bound,
        bounds.unit,
        '{{ rfm_method() }}' as rfm_method,
        coalesce(buyers_per_score.buyers, 0) as buyers
    from bounds
    left join buyers_per_score
        on
            bounds.dimension = buyers_per_score.dimension
            and bounds.score = buyers_per_score.score
)

select * from final
{% endif %}
