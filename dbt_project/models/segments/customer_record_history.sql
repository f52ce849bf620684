{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['customer_id', 'valid_from'],
    on_schema_change='fail',
    pre_hook=["{{ history_rewind_opened() }}", "{{ history_rewind_closed() }}"],
) }}
-- The CRM's customer record over time: CRM fields change in place, this keeps every version seen.
{{ scd2_history(
    ref('int_customers__as_of'),
    ['customer_id'],
    [
        'email', 'phone', 'first_name', 'last_name', 'gender', 'birth_date', 'city', 'region',
        'country', 'timezone', 'acquisition_channel', 'lead_status', 'email_opt_in',
    ],
) }}
