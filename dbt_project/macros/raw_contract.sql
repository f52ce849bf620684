{#- The raw data contract is source `crm` in models/staging/_sources.yml: its tables not starting with
    `_`, their columns in landed order; columns starting with `_` are the landing's lineage. -#}

{#- The contract columns of raw table `table_name`, in landed order, without the lineage columns:
    from dbt's graph; in a unit test, which has no graph, from the landed table (the landing creates
    it from the same contract); [] while parsing. -#}
{% macro raw_contract_columns(table_name) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set sources = (graph or {}).get('sources') or {} -%}
    {%- if sources -%}
        {%- set declared = [] -%}
        {%- for node in sources.values()
            if node.source_name == 'crm' and node.name == table_name and node.package_name == project_name -%}
            {%- do declared.extend(node.columns.keys()) -%}
        {%- endfor -%}
        {%- if not declared -%}
            {{ exceptions.raise_compiler_error(
                "raw_contract_columns: source crm declares no columns for table '" ~ table_name ~ "'"
            ) }}
        {%- endif -%}
    {%- else -%}
        {%- set landed = adapter.get_relation(database=target.database, schema='raw', identifier=table_name) -%}
        {%- if landed is none -%}
            {{ exceptions.raise_compiler_error(
                "raw_contract_columns: no graph and no landed table raw." ~ table_name
            ) }}
        {%- endif -%}
        {%- set declared = adapter.get_columns_in_relation(landed) | map(attribute='name') | list -%}
    {%- endif -%}
    {%- set contract = [] -%}
    {%- for column in declared if not column.startswith('_') -%}
        {%- do contract.append(column) -%}
    {%- endfor -%}
    {{ return(contract) }}
{%- endmacro %}
