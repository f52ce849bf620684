{{ config(
    materialized='incremental',
    incremental_strategy=adapter.dispatch('staging_incremental_strategy', 'crm_segments')(),
    unique_key=['table_name', 'source_file', 'source_row'],
    on_schema_change='sync_all_columns',
    pre_hook="{{ clear_quarantine_before_refold() }}",
    post_hook="delete from {{ this }} where quarantine_reason is null",
) }}
-- Every raw row that could not be staged, with its table, where it came from and why.
-- Together with the staging models this accounts for every landed row (see raw_row_reconciliation).
-- Kept incrementally (macros/quarantine.sql) from the histories staged incrementally: a
-- nightly run reads only their rows (re)staged since its last run, quarantined or not (a row staged
-- now replaces its quarantined version, then goes: the post-hook). The customer and campaign
-- exports, staged whole every run, are replaced whole (the pre-hook).
-- depends_on: {{ ref('base_crm__orders') }}
-- depends_on: {{ ref('base_crm__order_items') }}
-- depends_on: {{ ref('base_crm__email_events') }}
{% set plan = quarantine_plan(is_incremental()) %}

with duplicate_raw_records as (
    select * from {{ ref('stg_crm__duplicate_raw_records') }}
    {%- if not plan['all'] %}
    where _staged_in_run > {{ plan['since'] }}
    {%- endif %}
),

unioned as (
    {% for table in quarantine_tables() %}
    select
        '{{ table }}' as table_name,
        _source_file as source_file,
        _source_row as source_row,
        quarantine_reason,
        raw_record
    from {{ ref('base_crm__' ~ table) }}
    {%- if plan['all'] or table in quarantine_snapshot_tables() %}
    where quarantine_reason is not null
    {%- else %}
    where _staged_in_run > {{ plan['since'] }}
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        unioned.table_name,
        unioned.source_file,
        unioned.source_row,
        unioned.quarantine_reason,
        coalesce(unioned.raw_record, duplicate_raw_records.raw_record) as raw_record
    from unioned
    left join duplicate_raw_records
        on
            unioned.table_name = duplicate_raw_records.table_name
            and unioned.source_file = duplicate_raw_records._source_file
            and unioned.source_row = duplicate_raw_records._source_row
)

select
    final.*,
    {{ staging_run_stamp() }} as _staged_in_run,
    '{{ staging_version() }}' as _model_version
from final
