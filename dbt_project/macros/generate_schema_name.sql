{#- Schemas are named by their layer (staging, intermediate, marts, audit, reference) in every
    environment, because BI tools and the syncs address marts.* by that name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
