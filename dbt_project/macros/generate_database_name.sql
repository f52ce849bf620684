{#- On DuckDB the schemas readers are given (published_schemas) live in a file of their own, attached as
    `crm_marts` (profiles.yml): the run publishes that file by copying it whole. -#}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {%- set schema = node.config.get('schema') if node is not none else none -%}
    {%- if target.type == 'duckdb' and schema in published_schemas() -%}
        crm_marts
    {%- elif custom_database_name is none -%}
        {{ target.database }}
    {%- else -%}
        {{ custom_database_name | trim }}
    {%- endif -%}
{%- endmacro %}

{% macro published_schemas() -%}
    {{ return(['marts', 'audit']) }}
{%- endmacro %}
