{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['as_of_date'],
    schema='audit',
) }}
-- The as-of dates the history was built for, in order: the calendar of segment_daily_sizes.
-- A date is recorded once its history is built:
-- depends_on: {{ ref('segment_membership_history') }}
-- depends_on: {{ ref('customer_status_history') }}
-- depends_on: {{ ref('customer_record_history') }}
{% if history_is_frozen('as_of_date') %}
select * from {{ this }} where 1 = 0
{% else %}
select {{ as_of_date() }} as as_of_date
{% endif %}
