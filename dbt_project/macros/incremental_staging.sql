{#- Incremental staging of the histories that only grow (orders, order items, email events).

    The landing (orchestration/landing.py) stamps each raw row with `_load_id`, the number of the
    landing that brought it, and lists the files behind each raw table in `_landed_files`. A base
    model built incrementally restages:
      - the raw rows of loads newer than any it holds (new files, by ingestion: an event that
        arrives late, whatever its date, is in a new load, so no late-arrival window is needed);
      - the rows whose verdict may have changed with the new data: each model says which
        (`restage_keys`, e.g. every row of an order_id that came again, or whose customer appeared
        or went away), re-read from the raw table by (_source_file, _source_row).
    It restages everything, exactly as `--full-refresh` would, when a file it staged was landed
    again or removed (the landing replaced the table), or when its SQL or an upstream node
    (a seed such as the exchange rates, a model) changed, or the shop's own reference data in the
    raw folder (its exchange rates and statuses, reference_raw_tables): `_staging_version`
    records all three.
    After editing a macro the base models use (macros/staging_helpers.sql), run them with
    `--full-refresh`: dbt does not fingerprint macros.

    The result is the same as a full refresh (tests/test_incremental_staging.py checks it), because
    every rule that ranks or checks a row against others (duplicates: the row of the file whose
    name sorts last wins, the last row within a file; unknown customers or orders) restages all
    rows it involves. -#}

{#- When this dbt invocation started, as a timestamp literal: base_crm__email_events stamps the rows
    each run (re)stages with it (`_staged_in_run`), so the incremental models downstream read only
    the rows staged since their own last run. -#}
{% macro staging_run_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The config of an incrementally staged base model. -#}
{% macro incremental_staging_config() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': adapter.dispatch('staging_incremental_strategy', 'crm_segments')(),
        'unique_key': ['_source_file', '_source_row'],
        'on_schema_change': 'sync_all_columns',
        'pre_hook': "{{ staging_clear_when_restaging_all() }}",
    }) }}
{%- endmacro %}

{% macro default__staging_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{#- Spark (Delta) and Databricks replace rows by key with MERGE. -#}
{% macro spark__staging_incremental_strategy() -%}
    {{ return('merge') }}
{%- endmacro %}

{#- A fingerprint of what the model's verdicts depend on besides the raw rows: its own SQL and the
    checksums of the nodes it reads (seeds by content, models by SQL). -#}
{% macro staging_version() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {#- A unit test's context has neither the graph nor the dependencies; its value is unused there. -#}
    {%- set nodes = (graph or {}).get('nodes', {}) -%}
    {%- set parts = [(model.get('checksum') or {}).get('checksum', '')] -%}
    {%- set reference_tables = [] -%}
    {%- for node_id in (model.get('depends_on') or {}).get('nodes', []) | sort -%}
        {%- set node = nodes.get(node_id) -%}
        {%- if node is not none -%}
            {%- do parts.append(node_id ~ '=' ~ node.checksum.checksum) -%}
            {%- for table in reference_raw_tables() if node.name == 'stg_crm__' ~ table -%}
                {%- do reference_tables.append(table) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if reference_tables -%}
        {%- do parts.append(landed_files_fingerprint(reference_tables)) -%}
    {%- endif -%}
    {{- return(local_md5(parts | join('|'))) -}}
{%- endmacro %}

{#- Raw tables of reference data (the shop's exchange rates and statuses): staging reads them whole,
    and a change to them changes the verdicts of the models that read them. -#}
{% macro reference_raw_tables() -%}
    {{ return(['currency_rates', 'order_status_map']) }}
{%- endmacro %}

{#- The landing's fingerprints of the files behind `tables` (size, time, checksum): a model that
    reads those tables' data restages everything when they change. -#}
{% macro landed_files_fingerprint(tables) -%}
    {%- if load_relation(source('crm', '_landed_files')) is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set query -%}
        select coalesce({{ dbt.listagg(
            "table_name || '/' || source_file || '=' || fingerprint", "','", 'order by table_name, source_file'
        ) }}, '')
        from {{ source('crm', '_landed_files') }}
        where table_name in ('{{ tables | join("', '") }}')
    {%- endset -%}
    {{ return(run_query(query).rows[0][0]) }}
{%- endmacro %}

{#- What an incremental run of this model must restage: {'all': bool, 'last_load': int}. -#}
{% macro staging_restage_plan(raw_table) -%}
    {%- if not is_incremental() or not execute -%}
        {{ return({'all': true, 'last_load': 0}) }}
    {%- endif -%}
    {%- set query -%}
        with staged_files as (
            select
                _source_file,
                min(_load_id) as min_load_id,
                max(_load_id) as max_load_id,
                min(_staging_version) as min_version,
                max(_staging_version) as max_version
            from {{ this }}
            group by _source_file
        ),

        landed_files as (
            select
                source_file,
                load_id
            from {{ source('crm', '_landed_files') }}
            where table_name = '{{ raw_table }}'
        )

        select
            sum(
                case
                    when
                        landed_files.source_file is null
                        or staged_files.min_load_id != landed_files.load_id
                        or staged_files.max_load_id != landed_files.load_id
                        or staged_files.min_version != '{{ staging_version() }}'
                        or staged_files.max_version != '{{ staging_version() }}'
                        then 1
                    else 0
                end
            ) as stale_files,
            max(staged_files.max_load_id) as last_load_id
        from staged_files
        left join landed_files
            on staged_files._source_file = landed_files.source_file
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set stale_files = row[0] or 0 -%}
    {%- if stale_files > 0 -%}
        {% do log(this ~ ': ' ~ stale_files ~ ' staged file(s) were landed again, removed or staged by other code; restaging everything', info=true) %}
        {{ return({'all': true, 'last_load': 0}) }}
    {%- endif -%}
    {{ return({'all': false, 'last_load': row[1] or 0}) }}
{%- endmacro %}

{#- Pre-hook: when everything is restaged, the rows staged before go first (rows of removed files
    would otherwise stay). -#}
{% macro staging_clear_when_restaging_all() -%}
    {%- if is_incremental() and execute -%}
        {%- set raw_table = model.name | replace('base_crm__', '') -%}
        {%- if staging_restage_plan(raw_table)['all'] -%}
            delete from {{ this }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The raw rows of `source_relation` to (re)stage: all of them when `plan` says so, else those of
    the new loads and those whose (_source_file, _source_row) the query `restage_keys` returns. -#}
{% macro staging_rows_to_restage(source_relation, plan, restage_keys) -%}
    select raw_rows.*
    from {{ source_relation }} as raw_rows
    {%- if not plan['all'] %}
    left join ({{ restage_keys }}) as restage
        on
            raw_rows._source_file = restage._source_file
            and raw_rows._source_row = restage._source_row
    where
        raw_rows._load_id > {{ plan['last_load'] }}
        or restage._source_file is not null
    {%- endif %}
{%- endmacro %}

{#- The cleaned values of `column` in the raw rows of the new loads. -#}
{% macro new_raw_values(source_relation, plan, column) -%}
    select {{ clean_text(column) }} as {{ column }}
    from {{ source_relation }}
    where _load_id > {{ plan['last_load'] }}
{%- endmacro %}

{#- The keys of the staged rows whose `columns` match a row of the CTE `affected`. -#}
{% macro staged_rows_with(columns, affected) -%}
    select distinct
        staged._source_file,
        staged._source_row
    from {{ this }} as staged
    inner join {{ affected }}
        on
        {%- for column in columns %}
            {{ 'and ' if not loop.first }}staged.{{ column }} = {{ affected }}.{{ column }}
        {%- endfor %}
{%- endmacro %}
