-- Every raw row that could not be staged, with its table, where it came from and why.
-- Together with the staging models this accounts for every landed row (see raw_row_reconciliation).
{% set tables = ['customers', 'orders', 'order_items', 'email_events', 'campaigns'] %}

with unioned as (
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
)

select * from unioned
