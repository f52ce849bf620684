{#- Engine-specific SQL lives behind adapter.dispatch so the models run unchanged on DuckDB and
    Spark. The default implementations are ANSI / Spark SQL. -#}

{#- True when `expression` matches the regular expression `pattern` (a Python-style literal). -#}
{% macro regex_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'crm_segments')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(expression, pattern) -%}
    ({{ expression }} rlike '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regex_matches(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}


{#- Continuous percentile (linear interpolation between the two nearest ranks), as an aggregate. -#}
{% macro percentile_cont(expression, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'crm_segments')(expression, fraction)) }}
{%- endmacro %}

{% macro default__percentile_cont(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__percentile_cont(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro spark__percentile_cont(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}


{#- A JSON object text of `relation`'s named columns, to keep a raw row readable in the quarantine.
    With a `prefix`, the values come from the columns `<prefix><column>` (the keys keep the names);
    without a relation (none) the columns are not qualified. -#}
{% macro json_record(relation, columns, prefix='') -%}
    {{ return(adapter.dispatch('json_record', 'crm_segments')(relation, columns, prefix)) }}
{%- endmacro %}

{% macro default__json_record(relation, columns, prefix='') -%}
    to_json(named_struct(
        {%- for column in columns %}
        '{{ column }}', {{ relation ~ '.' if relation }}{{ prefix ~ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}

{% macro duckdb__json_record(relation, columns, prefix='') -%}
    cast(to_json(struct_pack(
        {%- for column in columns %}
        {{ column }} := {{ relation ~ '.' if relation }}{{ prefix ~ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    )) as {{ dbt.type_string() }})
{%- endmacro %}


{#- dbt-duckdb has no safe_cast of its own, and dbt's default is a plain cast that fails the whole
    query on one bad value; try_cast gives NULL, which staging turns into a quarantine reason. -#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}

{#- The number of the `days`-day period since 1970-01-01 that the date of `column` (a date or
    timestamp) falls in. The day numbers are positive, so integer division (as on Trino) and
    floor agree. -#}
{% macro day_bucket(column, days) -%}
    floor({{ dbt.datediff("cast('1970-01-01' as date)", column, 'day') }} / {{ days }})
{%- endmacro %}


{#- `value` as a SQL string literal (segment rules whose text has braces or backslashes). -#}
{% macro segment_text_literal(value) -%}
    {{ return(adapter.dispatch('segment_text_literal', 'crm_segments')(value)) }}
{%- endmacro %}

{% macro default__segment_text_literal(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}

{#- Spark reads backslash escapes inside string literals. -#}
{% macro spark__segment_text_literal(value) -%}
    '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
