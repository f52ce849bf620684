{#- Relations dbt left behind in the schemas of this project's models and seeds: tables and views
    that no model, seed or snapshot builds any more (a renamed or deleted model, e.g.
    intermediate.int_kpis__emails, renamed int_emails) and the __dbt_tmp / __dbt_backup leftovers
    of an interrupted run. dbt itself never drops them. Sources (raw, sync_state) and schemas where
    no dbt node lives (quality, written by the GX checks) are never considered.

        dbt run-operation drop_orphaned_relations                            # lists them
        dbt run-operation drop_orphaned_relations --args '{dry_run: false}'  # drops them

    Disabled models count as gone: their relations are listed too. -#}
{% macro drop_orphaned_relations(dry_run=true) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set orphans = orphaned_relations() -%}
    {%- if orphans | length == 0 -%}
        {%- do log('No orphaned relations in the schemas of this project.', info=true) -%}
    {%- endif -%}
    {%- for relation in orphans -%}
        {%- if dry_run -%}
            {%- do log('Orphaned ' ~ relation.type ~ ' (dry run, kept): ' ~ relation, info=true) -%}
        {%- else -%}
            {#- One drop per transaction: DuckDB writes one attached file per transaction (the marts file). -#}
            {%- do adapter.drop_relation(relation) -%}
            {%- do adapter.commit() -%}
            {%- do log('Dropped orphaned ' ~ relation.type ~ ': ' ~ relation, info=true) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if orphans and dry_run -%}
        {%- do log(orphans | length ~ " orphaned relation(s); run with --args '{dry_run: false}' to drop them.", info=true) -%}
    {%- endif -%}
    {{ return(orphans) }}
{%- endmacro %}

{#- The relations in the schemas of models, seeds and snapshots that none of them nor a source names. -#}
{% macro orphaned_relations() -%}
    {%- set expected = {} -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type in ['model', 'seed', 'snapshot'] and node.config.materialized != 'ephemeral' -%}
            {%- set key = (node.database ~ '.' ~ node.schema) | lower -%}
            {%- do expected.setdefault(key, []).append((node.alias or node.name) | lower) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for source in graph.sources.values() -%}
        {%- set key = (source.database ~ '.' ~ source.schema) | lower -%}
        {%- if key in expected -%}
            {%- do expected[key].append(source.identifier | lower) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set orphans = [] -%}
    {%- for key in expected | sort -%}
        {%- set database, schema = key.split('.', 1) -%}
        {%- for relation in relations_in_schema(database, schema) -%}
            {%- if relation.identifier | lower not in expected[key] -%}
                {%- do orphans.append(relation) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(orphans) }}
{%- endmacro %}

{#- The tables and views of one schema, as relations. Engines whose list_relations_without_caching
    names its columns otherwise dispatch their own. -#}
{% macro relations_in_schema(database, schema) -%}
    {{ return(adapter.dispatch('relations_in_schema', 'crm_segments')(database, schema)) }}
{%- endmacro %}

{% macro default__relations_in_schema(database, schema) -%}
    {%- set listed = list_relations_without_caching(api.Relation.create(database=database, schema=schema)) -%}
    {%- set relations = [] -%}
    {%- for row in listed -%}
        {%- do relations.append(api.Relation.create(
            database=database, schema=schema, identifier=row['name'], type=row['type'])) -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}
