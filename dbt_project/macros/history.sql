{#- SCD type 2 history with the as-of date as its clock (not the wall clock).

    A history model is incremental (delete+insert on its key + valid_from) over the current state
    of some relation. Each run as of date D compares the current rows with the open versions:
    a key whose tracked values changed or that disappeared gets valid_to = D; a new or changed key
    gets a version from D. Rules:
    - re-running the latest date first rewinds what that date wrote (pre-hook history_rewind), so
      the same date twice gives the same history, even if the raw data changed in between;
    - a date earlier than the latest recorded leaves the history untouched (history_is_frozen):
      the marts still show that past date, the history never goes back in time;
    - `--full-refresh` starts the history again from the current date.
    dbt's snapshots stamp versions with the wall clock (check strategy, hard deletes), and the
    timestamp strategy re-versions every row whose updated_at moves, hence this macro. -#}

{#- `relation`: the table whose dates decide (default: the model itself). -#}
{% macro history_latest_date(date_expression=none, relation=none) -%}
    {%- if not execute or not is_incremental() -%}{{ return(none) }}{%- endif -%}
    {%- set latest_of_row = date_expression
        or "case when valid_to is not null and valid_to > valid_from then valid_to else valid_from end" -%}
    {%- set result = run_query("select max(" ~ latest_of_row ~ ") from " ~ (relation or this)) -%}
    {%- set latest = result.columns[0].values()[0] -%}
    {{ return(none if latest is none else latest | string) }}
{%- endmacro %}

{% macro history_is_frozen(date_expression=none, relation=none) -%}
    {%- set latest = history_latest_date(date_expression, relation) -%}
    {{ return(latest is not none and as_of_date_string() < latest[:10]) }}
{%- endmacro %}

{#- Undo what a previous run of the same as-of date wrote, before writing it again: drop the versions
    it opened, reopen the ones it closed (two hooks, one statement each, for engines that need it). -#}
{% macro history_rewind_opened() -%}
    {%- if is_incremental() and not history_is_frozen() -%}
        delete from {{ this }} where valid_from = {{ as_of_date() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro history_rewind_closed() -%}
    {%- if is_incremental() and not history_is_frozen() -%}
        update {{ this }} set valid_to = null, is_current = true where valid_to = {{ as_of_date() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The rewind of a table kept per as-of date (every row carries the date it was computed for, no
    validity intervals): re-running the latest date deletes that date's rows first, so the run
    writes the date's whole state again, even where it now has fewer rows (a segment dropped from
    the catalogue). A date before the latest recorded one is frozen, as for the histories (`frozen`:
    decided by another table's dates). -#}
{% macro history_rewind_date(date_column='as_of_date', frozen=none) -%}
    {%- set frozen = history_is_frozen(date_column) if frozen is none else frozen -%}
    {%- if is_incremental() and not frozen -%}
        delete from {{ this }} where {{ date_column }} = {{ as_of_date() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro version_hash(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '<null>')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- The body of a history model. `current` is a relation with one row per key as of the as-of date. -#}
{% macro scd2_history(current, key_columns, tracked_columns=[]) -%}
{%- set all_columns = key_columns + tracked_columns -%}
{%- if history_is_frozen() %}
    {{ log("History " ~ this ~ " stays as it is: as-of " ~ as_of_date_string() ~ " is before its latest date "
        ~ history_latest_date(), info=true) }}
select * from {{ this }} where 1 = 0
{%- else %}
with current_state as (
    select
        {%- for column in all_columns %}
        {{ column }},
        {%- endfor %}
        {{ version_hash(tracked_columns if tracked_columns else key_columns) }} as version_hash
    from {{ current }}
),

{% if is_incremental() %}
open_versions as (
    select * from {{ this }}
    where valid_to is null
),

closed as (
    select
        {%- for column in all_columns %}
        open_versions.{{ column }},
        {%- endfor %}
        open_versions.version_hash,
        open_versions.valid_from,
        {{ as_of_date() }} as valid_to,
        false as is_current
    from open_versions
    left join current_state
        on
            {%- for column in key_columns %}
            {{ 'and ' if not loop.first }}open_versions.{{ column }} = current_state.{{ column }}
            {%- endfor %}
            and open_versions.version_hash = current_state.version_hash
    where current_state.{{ key_columns[0] }} is null
),
{% endif %}

opened as (
    select
        {%- for column in all_columns %}
        current_state.{{ column }},
        {%- endfor %}
        current_state.version_hash,
        {{ as_of_date() }} as valid_from,
        cast(null as date) as valid_to,
        true as is_current
    from current_state
    {%- if is_incremental() %}
    left join open_versions
        on
            {%- for column in key_columns %}
            {{ 'and ' if not loop.first }}current_state.{{ column }} = open_versions.{{ column }}
            {%- endfor %}
            and current_state.version_hash = open_versions.version_hash
    where open_versions.{{ key_columns[0] }} is null
    {%- endif %}
)

{% if is_incremental() %}
select * from closed
union all
{% endif %}
select * from opened
{%- endif %}
{%- endmacro %}
