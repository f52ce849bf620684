{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['as_of_date'],
    schema='audit',
) }}
-- The as-of dates the history was built for, in order: the calendar of segment_daily_sizes.
{% if history_is_frozen('as_of_date') %}
select * from {{ this }} where 1 = 0
{% else %}
select {{ as_of_date() }} as as_of_date
{% endif %}
