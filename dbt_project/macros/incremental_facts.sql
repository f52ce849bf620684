{#- Facts kept incrementally from staged rows, independent of the as-of date (int_email_first_events,
    audit.quarantined_rows).

    Such a fact reads only the rows its staging model (re)staged since the fact's last run: every
    staged row carries `_staged_in_run` (macros/incremental_staging.sql: staging_run_stamp), and the
    fact keeps the latest stamp it has folded in (stamps are the start time of the dbt run, so a
    later run must not have an earlier clock: one machine's clock, as for the nightly schedule;
    `--full-refresh` of the fact is the way out otherwise). A restaged row that moved to another customer
    names the one it left in `_customer_id_before_restage`, so the fact recounts what that customer
    lost. The fact is rebuilt from all staged rows instead when:
      - it is new or empty, or staging is empty;
      - its SQL or a node it reads changed (`_model_version`, the fingerprint staging_version()
        gives the base models too): rows folded by other code would stay otherwise;
      - staging restaged everything since (every staged row is newer than the fact: a file landed
        again or removed, a changed seed or staging code);
      - a row was restaged twice since (`_restaged_from_run`, the run of the version it replaced, is
        newer than the fact): had it moved twice, it would name only its last customer. -#}

{#- {'all': bool, 'since': timestamp literal}: what an incremental run of this fact must read.
    `incremental` is the model's is_incremental(), which a unit test overrides only in the model.
    A staged relation whose rows never move to another customer has no `_restaged_from_run`
    (`moves_tracked=false`). -#}
{% macro staged_since_plan(staged_relation, incremental, moves_tracked=true) -%}
    {%- if not incremental or not execute -%}
        {{ return({'all': true, 'since': none}) }}
    {%- endif -%}
    {#- A table built before it was kept incrementally (an upgrade) has no bookkeeping yet. -#}
    {%- set folded_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if '_staged_in_run' not in folded_columns or '_model_version' not in folded_columns -%}
        {% do log(this ~ ': rebuilding from all staged rows (no bookkeeping columns yet)', info=true) %}
        {{ return({'all': true, 'since': none}) }}
    {%- endif -%}
    {%- set query -%}
        with folded as (
            select
                max(_staged_in_run) as last_run,
                sum(case when _model_version != '{{ staging_version() }}' then 1 else 0 end) as other_versions
            from {{ this }}
        )

        select
            folded.last_run,
            folded.other_versions,
            (select min(_staged_in_run) from {{ staged_relation }}) as oldest_staged,
            {%- if moves_tracked %}
            (
                select count(*)
                from {{ staged_relation }} as staged
                where
                    staged._staged_in_run > folded.last_run
                    and staged._restaged_from_run > folded.last_run
            ) as restaged_twice
            {%- else %}
            0 as restaged_twice
            {%- endif %}
        from folded
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set last_run, other_versions, oldest_staged, restaged_twice = row[0], row[1], row[2], row[3] -%}
    {%- if last_run is none or other_versions > 0 or oldest_staged is none or oldest_staged > last_run
        or restaged_twice > 0 -%}
        {% do log(this ~ ': rebuilding from all staged rows (last folded run ' ~ last_run ~ ', rows folded by other code ' ~ other_versions ~ ', oldest staged row ' ~ oldest_staged ~ ', rows restaged twice since ' ~ restaged_twice ~ ')', info=true) %}
        {{ return({'all': true, 'since': none}) }}
    {%- endif -%}
    {%- set since = "cast('" ~ last_run.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}
    {{ return({'all': false, 'since': since}) }}
{%- endmacro %}

{#- Pre-hook: a rebuild in place starts from an empty table (a key no staged row has any more would
    otherwise stay). -#}
{% macro clear_fact_when_rebuilding(staged_model) -%}
    {%- if is_incremental() and execute and staged_since_plan(ref(staged_model), true)['all'] -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- The earlier of two timestamps, either of which may be null (least() returns null on Trino). -#}
{% macro earliest(left, right) -%}
    case when {{ right }} is null or {{ left }} <= {{ right }} then {{ left }} else {{ right }} end
{%- endmacro %}

{#- staged_since_plan over several staged relations, given as (relation, moves_tracked) pairs: the
    fact is rebuilt when any of them says so. -#}
{% macro staged_since_plans(staged_relations, incremental) -%}
    {%- set plans = [] -%}
    {%- for relation, moves_tracked in staged_relations -%}
        {%- set plan = staged_since_plan(relation, incremental, moves_tracked) -%}
        {%- if plan['all'] -%}
            {{ return(plan) }}
        {%- endif -%}
        {%- do plans.append(plan) -%}
    {%- endfor -%}
    {{ return(plans[-1]) }}
{%- endmacro %}
