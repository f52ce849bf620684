{% set tables = ['orders', 'order_items', 'email_events'] %}
-- The raw row, as JSON, of every row of these tables quarantined without a raw record: a
-- duplicate of a later row. The base models leave it null so that the raw text is not carried
-- through their duplicate ranking; audit.quarantined_rows shows it from here (filtering on
-- `_staged_in_run` to look up only the rows a run restaged).
with
{% for table in tables %}
{{ table }}_without_record as (
    select
        _source_file,
        _source_row,
        _staged_in_run
    from {{ ref('base_crm__' ~ table) }}
    where quarantine_reason is not null and raw_record is null
),

{{ table }}_records as (
    select
        '{{ table }}' as table_name,
        raw_rows._source_file,
        raw_rows._source_row,
        {{ table }}_without_record._staged_in_run,
        {{ json_record('raw_rows', staged_raw_columns(table)) }} as raw_record
    from {{ table }}_without_record
    inner join {{ source('crm', table) }} as raw_rows
        on
            {{ table }}_without_record._source_file = raw_rows._source_file
            and {{ table }}_without_record._source_row = raw_rows._source_row
),

{% endfor %}
unioned as (
    {% for table in tables %}
    select * from {{ table }}_records
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from unioned
