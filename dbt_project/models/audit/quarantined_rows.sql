-- Every raw row that could not be staged, with its table, where it came from and why.
-- Together with the staging models this accounts for every landed row (see raw_row_reconciliation).
{% set tables = ['customers', 'orders', 'order_items', 'email_events', 'campaigns'] %}

with duplicate_raw_records as (
    select * from {{ ref('stg_crm__duplicate_raw_records') }}
),

unioned as (
    {% for table in tables %}
    select
        '{{ table }}' as table_name,
        _source_file as source_file,
        _source_row as source_row,
        quarantine_reason,
        raw_record
    from {{ ref('base_crm__' ~ table) }}
    where quarantine_reason is not null
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

select * from final
