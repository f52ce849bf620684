{#- Local time for the predictions (marts.customer_predictions): engine-specific bits behind
    adapter.dispatch, like macros/portability.sql. The default implementations are Spark SQL. -#}

{#- The wall-clock time in IANA zone `time_zone` (an expression) of `timestamp_utc`, a UTC
    timestamp without a zone; the result has no zone either. -#}
{% macro utc_to_local(timestamp_utc, time_zone) -%}
    {{ return(adapter.dispatch('utc_to_local', 'crm_segments')(timestamp_utc, time_zone)) }}
{%- endmacro %}

{% macro default__utc_to_local(timestamp_utc, time_zone) -%}
    from_utc_timestamp({{ timestamp_utc }}, {{ time_zone }})
{%- endmacro %}

{% macro duckdb__utc_to_local(timestamp_utc, time_zone) -%}
    timezone({{ time_zone }}, {{ timestamp_utc }} at time zone 'UTC')
{%- endmacro %}


{#- True when `time_zone` (an expression) names a zone the engine knows, in any letter case: an
    unknown name would fail the conversion above for every row. -#}
{% macro is_known_time_zone(time_zone) -%}
    {{ return(adapter.dispatch('is_known_time_zone', 'crm_segments')(time_zone)) }}
{%- endmacro %}

{#- Spark and Trino have no catalogue of zone names to check against: trust a name shaped like an
    IANA one (Area/Location, or UTC). -#}
{% macro default__is_known_time_zone(time_zone) -%}
    coalesce({{ regex_matches(time_zone, '(UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+)+)') }}, false)
{%- endmacro %}

{% macro duckdb__is_known_time_zone(time_zone) -%}
    coalesce(lower({{ time_zone }}) in (select lower(name) from pg_timezone_names()), false)
{%- endmacro %}
