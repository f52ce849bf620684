{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['customer_id', 'valid_from'],
    on_schema_change='fail',
    pre_hook=["{{ history_rewind_opened() }}", "{{ history_rewind_closed() }}"],
) }}
-- Each customer's RFM segment, lifecycle and engagement status over time (SCD type 2).
{{ scd2_history(
    ref('dim_customers'), ['customer_id'], ['rfm_segment', 'lifecycle_status', 'engagement_status']
) }}
