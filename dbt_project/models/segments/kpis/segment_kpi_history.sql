{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ history_rewind_date('as_of_date') }}",
) }}
-- segment_kpis kept per as-of date, for trends: each run appends its date's rows. The rules of the
-- histories (macros/history.sql): re-running the latest date first deletes what that date wrote
-- (pre-hook history_rewind_date) and writes it again; a date before the latest recorded one leaves
-- the table as it is (history_is_frozen).
{% if history_is_frozen('as_of_date') %}
{{ log("History " ~ this ~ " stays as it is: as-of " ~ as_of_date_string() ~ " is before its latest date "
    ~ history_latest_date('as_of_date'), info=true) }}
select * from {{ this }} where 1 = 0
{% else %}
with segment_kpis as (
    select * from {{ ref('segment_kpis') }}
),

final as (
    select * from segment_kpis
)

select * from final
{% endif %}
