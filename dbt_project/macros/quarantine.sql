{#- audit.quarantined_rows: the tables it gathers, and how it is kept incrementally. -#}

{% macro quarantine_tables() -%}
    {{ return(['customers', 'orders', 'order_items', 'email_events', 'campaigns', 'currency_rates', 'order_status_map']) }}
{%- endmacro %}

{#- Full exports, staged whole every run (the others are the histories staged incrementally). -#}
{% macro quarantine_snapshot_tables() -%}
    {{ return(['customers', 'campaigns', 'currency_rates', 'order_status_map']) }}
{%- endmacro %}

{#- staged_since_plan over the histories staged incrementally; their rows keep their customer, or
    have none, so no move is tracked. -#}
{% macro quarantine_plan(incremental) -%}
    {%- set relations = [] -%}
    {%- for table in quarantine_tables() if table not in quarantine_snapshot_tables() -%}
        {%- do relations.append((ref('base_crm__' ~ table), false)) -%}
    {%- endfor -%}
    {{ return(staged_since_plans(relations, incremental)) }}
{%- endmacro %}

{#- Pre-hook of audit.quarantined_rows: everything goes on a rebuild; otherwise the rows of the full
    exports, which are inserted again whole (a row the export no longer has must not stay). -#}
{% macro clear_quarantine_before_refold() -%}
    {%- if is_incremental() and execute -%}
        {%- if quarantine_plan(true)['all'] -%}
            delete from {{ this }}
        {%- else -%}
            delete from {{ this }}
            where table_name in ('{{ quarantine_snapshot_tables() | join("', '") }}')
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
