-- Per raw table: rows landed = rows staged + rows quarantined. unaccounted_rows must be 0.

with manifest as (
    select * from {{ ref('stg_crm__landing_manifest') }}
),

staged as (
    {% for table in quarantine_tables() %}
    select
        '{{ table }}' as table_name,
        count(*) as staged_rows
    from {{ ref('stg_crm__' ~ table) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

quarantined as (
    select
        table_name,
        count(*) as quarantined_rows
    from {{ ref('quarantined_rows') }}
    group by table_name
),

reconciled as (
    select
        manifest.table_name,
        manifest.source_file,
        manifest.raw_rows,
        staged.staged_rows,
        coalesce(quarantined.quarantined_rows, 0) as quarantined_rows,
        manifest.raw_rows
        - staged.staged_rows
        - coalesce(quarantined.quarantined_rows, 0) as unaccounted_rows
    from manifest
    left join staged
        on manifest.table_name = staged.table_name
    left join quarantined
        on manifest.table_name = quarantined.table_name
)

select * from reconciled
