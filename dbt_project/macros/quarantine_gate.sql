{#- The quarantine gate (README, "Data quality"): a run stops before the marts when too much of a
    table was quarantined. Used by the generic tests quarantine_share_within_limit (on every
    stg_crm__ view, so `dbt build` skips everything downstream of a failing table) and
    customer_rfm_not_empty (on marts.customer_rfm). -#}

{#- var max_quarantine_share, checked: a share between 0 and 1. -#}
{% macro max_quarantine_share() -%}
    {%- set share = var('max_quarantine_share') -%}
    {%- if share is not number or share is sameas true or share < 0 or share > 1 -%}
        {{ exceptions.raise_compiler_error(
            "var max_quarantine_share must be a share between 0 and 1 (0.2 = 20%), got '" ~ share ~ "'"
        ) }}
    {%- endif -%}
    {{ return(share) }}
{%- endmacro %}

{#- The smallest number of rows (superseded duplicates aside) a scope needs to be judged: in a
    smaller one a single bad row is a large share (1 of 20 = 5%); an export that lost every buyer is
    still caught by customer_rfm_not_empty. -#}
{% macro quarantine_gate_min_rows() -%}
    {%- set rows = var('quarantine_gate_min_rows', 30) -%}
    {%- if rows is not number or rows is sameas true or rows < 1 or rows != rows | int -%}
        {{ exceptions.raise_compiler_error(
            "var quarantine_gate_min_rows must be a whole number of rows, at least 1, got '" ~ rows ~ "'"
        ) }}
    {%- endif -%}
    {{ return(rows | int) }}
{%- endmacro %}

{#- A duplicate_* reason: an older version of a record a later row replaced; no data is lost. -#}
{% macro is_superseded_reason(reason) -%}
    coalesce({{ reason }} like 'duplicate%', false)
{%- endmacro %}

{#- A row for `table_name` when the quarantined share of one of its scopes is over max_share (the
    worse scope if both are): its newest landing (the files of its largest _load_id; a scope only
    when older landings exist) and all its rows; a scope is judged from min_rows rows on. Superseded
    duplicates count neither as quarantined nor as rows; they are reported as superseded_rows. -#}
{% macro quarantine_gate_failures(table_name, max_share, min_rows, max_examples=5) -%}
    {%- set text = dbt.type_string() -%}
with landed as (
    select
        _source_file,
        _load_id
    from {{ source('crm', table_name) }}
),

newest_files as (
    select distinct landed._source_file
    from landed
    where landed._load_id = (select max(all_landed._load_id) from landed as all_landed)
),

base as (
    select
        base_rows._source_file,
        base_rows._source_row,
        base_rows.quarantine_reason,
        {{ is_superseded_reason('base_rows.quarantine_reason') }} as is_superseded,
        newest_files._source_file is not null as is_newest_landing
    from {{ ref('base_crm__' ~ table_name) }} as base_rows
    left join newest_files
        on base_rows._source_file = newest_files._source_file
),

-- The newest landing is a scope of its own only when the table has older landings too.
scoped as (
    select
        'all rows' as scope,
        base.*
    from base
    union all
    select
        'newest landing' as scope,
        base.*
    from base
    where
        base.is_newest_landing
        and exists (select 1 from base as older where not older.is_newest_landing)
),

lost as (
    select * from scoped
    where quarantine_reason is not null and not is_superseded
),

shares as (
    select
        scope,
        sum(case when quarantine_reason is not null and not is_superseded then 1 else 0 end) as quarantined_rows,
        sum(case when is_superseded then 0 else 1 end) as checked_rows,
        sum(case when is_superseded then 1 else 0 end) as superseded_rows
    from scoped
    group by scope
),

reason_counts as (
    select
        scope,
        quarantine_reason,
        count(*) as reason_rows
    from lost
    group by scope, quarantine_reason
),

top_reasons as (
    select
        scope,
        {{ dbt.listagg(
            dbt.concat(['quarantine_reason', "': '", 'cast(reason_rows as ' ~ text ~ ')']),
            "', '",
            'order by reason_rows desc, quarantine_reason',
            3,
        ) }} as top_reasons
    from reason_counts
    group by scope
),

sample_rows as (
    select
        scope,
        {{ dbt.listagg(
            dbt.concat(['_source_file', "':'", 'cast(_source_row as ' ~ text ~ ')', "' ('", 'quarantine_reason', "')'"]),
            "', '",
            'order by _source_file, _source_row',
            max_examples,
        ) }} as sample_rows
    from lost
    group by scope
),

newest_landing as (
    select
        {{ dbt.listagg('_source_file', "', '", 'order by _source_file') }} as newest_files
    from newest_files
),

checked as (
    select
        '{{ table_name }}' as table_name,
        shares.scope,
        newest_landing.newest_files,
        shares.quarantined_rows,
        shares.checked_rows,
        shares.quarantined_rows * 1.0 / shares.checked_rows as quarantined_share,
        {{ max_share }} as max_share,
        shares.superseded_rows,
        top_reasons.top_reasons,
        sample_rows.sample_rows
    from shares
    cross join newest_landing
    left join top_reasons
        on shares.scope = top_reasons.scope
    left join sample_rows
        on shares.scope = sample_rows.scope
    where shares.checked_rows >= {{ min_rows }}
),

failing as (
    select
        *,
        row_number() over (order by quarantined_share desc, scope desc) as failing_rank
    from checked
    where quarantined_share > max_share
)

select
    table_name,
    scope,
    newest_files,
    quarantined_rows,
    checked_rows,
    quarantined_share,
    max_share,
    superseded_rows,
    top_reasons,
    sample_rows
from failing
where failing_rank = 1
{%- endmacro %}
