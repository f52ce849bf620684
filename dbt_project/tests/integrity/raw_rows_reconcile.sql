-- Integrity: every row of every raw table is either staged or quarantined, exactly once.
-- Counts the raw tables themselves, so a fan-out in a base model cannot hide behind its own count.
{% set tables = ['customers', 'orders', 'order_items', 'email_events', 'campaigns'] %}

with raw_counts as (
    {% for table in tables %}
    select
        '{{ table }}' as table_name,
        count(*) as raw_rows
    from {{ source('crm', table) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

accounted as (
    select
        table_name,
        staged_rows + quarantined_rows as accounted_rows,
        raw_rows as manifest_rows
    from {{ ref('raw_row_reconciliation') }}
)

select
    raw_counts.table_name,
    raw_counts.raw_rows,
    accounted.manifest_rows,
    accounted.accounted_rows
from raw_counts
left join accounted
    on raw_counts.table_name = accounted.table_name
where
    accounted.accounted_rows is null
    or raw_counts.raw_rows != accounted.accounted_rows
    or raw_counts.raw_rows != accounted.manifest_rows
