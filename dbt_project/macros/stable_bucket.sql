{#- A whole number 0..9999 from a text expression, the same on every run and engine release:
    the first 8 hex digits of its MD5, modulo 10000. Used for holdout groups. -#}
{% macro stable_bucket(expression) -%}
    {{ return(adapter.dispatch('stable_bucket', 'crm_segments')(expression)) }}
{%- endmacro %}

{% macro default__stable_bucket(expression) -%}
    (cast(conv(substr(md5({{ expression }}), 1, 8), 16, 10) as bigint) % 10000)
{%- endmacro %}

{% macro duckdb__stable_bucket(expression) -%}
    (cast(('0x' || substr(md5({{ expression }}), 1, 8)) as bigint) % 10000)
{%- endmacro %}

{#- Whether the member `alias` (with segment_key, customer_id, holdout_share) is in its segment's
    holdout: a stable share of (segment, customer) pairs, the same on every run. -#}
{% macro is_in_holdout(alias) -%}
    coalesce(
        {{ stable_bucket(dbt.concat([alias ~ ".segment_key", "'|'", alias ~ ".customer_id"])) }}
        < {{ alias }}.holdout_share * 10000,
        false
    )
{%- endmacro %}
