{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['segment_key', 'customer_id', 'valid_from'],
    on_schema_change='fail',
    pre_hook=["{{ history_rewind_opened() }}", "{{ history_rewind_closed() }}"],
) }}
-- Who was in which segment when: one row per membership interval [valid_from, valid_to),
-- valid_to null while it lasts. See macros/history.sql for the rules.
{{ scd2_history(ref('segment_membership'), ['segment_key', 'customer_id']) }}
