{#- The as-of date is the clock of every mart: marts are a pure function of (raw data, as-of date).
    Resolution order: the dbt var `as_of_date`, then the environment variable CRM_SEGMENTS_AS_OF,
    then the UTC date the run started. While dbt parses, the run's date stands in: no node records the
    variable, so a new date does not make dbt parse the project again. -#}
{% macro as_of_date_string() -%}
    {%- set configured = (var('as_of_date', none) or env_var('CRM_SEGMENTS_AS_OF', '')) if execute else none -%}
    {%- set value = (configured | string | trim) if configured else run_started_at.strftime('%Y-%m-%d') -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value) -%}
        {{ exceptions.raise_compiler_error(
            "as_of_date must be a date written YYYY-MM-DD (var as_of_date or CRM_SEGMENTS_AS_OF), got '" ~ value ~ "'"
        ) }}
    {%- endif -%}
    {#- strptime rejects impossible dates such as 2024-02-30. -#}
    {%- do modules.datetime.datetime.strptime(value, '%Y-%m-%d') -%}
    {{- value -}}
{%- endmacro %}

{#- The as-of date as a SQL date. -#}
{% macro as_of_date() -%}
    cast('{{ as_of_date_string() }}' as date)
{%- endmacro %}

{#- The first instant after the as-of day (UTC): rows at or after it are not visible yet. -#}
{% macro as_of_cutoff() -%}
    cast({{ dbt.dateadd('day', 1, as_of_date()) }} as timestamp)
{%- endmacro %}

{#- The value of the dbt var `name`, a whole number of days, at least 1 (a window or period that
    ends on the as-of day), as an integer; any other value stops the run with a clear error. -#}
{% macro whole_days_var(name) -%}
    {%- set days = var(name) -%}
    {%- if days is not number or days is sameas true or days < 1 or days != days | int -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a whole number of days, at least 1, got '" ~ days ~ "'"
        ) }}
    {%- endif -%}
    {{ return(days | int) }}
{%- endmacro %}

{#- The date `days` days before the as-of date, written YYYY-MM-DD (segment rules: within last days). -#}
{% macro as_of_days_ago(days) -%}
    {%- set as_of = modules.datetime.datetime.strptime(as_of_date_string() | trim, '%Y-%m-%d') -%}
    {{- (as_of - modules.datetime.timedelta(days=days)).strftime('%Y-%m-%d') -}}
{%- endmacro %}
