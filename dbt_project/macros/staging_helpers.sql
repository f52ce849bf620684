{#- Typing helpers for staging: raw columns arrive as text; a value that does not parse becomes
    NULL here, and each staging model decides whether that quarantines the row or only the field. -#}

{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{% macro clean_lower(column) -%}
    lower({{ clean_text(column) }})
{%- endmacro %}

{#- A UTC timestamp. A trailing offset (Z, +03:00, -0500) is honoured: the value is converted to UTC
    instead of the offset being dropped. -#}
{% macro parse_timestamp(column) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'crm_segments')(clean_text(column))) }}
{%- endmacro %}

{% macro default__parse_timestamp(text) -%}
    {{ dbt.safe_cast(text, api.Column.translate_type('timestamp')) }}
{%- endmacro %}

{#- ISO first; the Russian day-first `DD.MM.YYYY[ HH:MM[:SS]]` only for what ISO did not parse
    (coalesce evaluates it for those rows alone). -#}
{% macro duckdb__parse_timestamp(text) -%}
    case
        when {{ regex_matches(
            'lower(' ~ text ~ ')',
            '.*[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)? ?(z|[+-][0-9]{2}(:?[0-9]{2})?)$'
        ) }}
            then try_cast({{ text }} as timestamptz) at time zone 'UTC'
        else coalesce(
            try_cast({{ text }} as timestamp),
            try_strptime({{ text }}, ['%d.%m.%Y %H:%M:%S', '%d.%m.%Y %H:%M', '%d.%m.%Y'])
        )
    end
{%- endmacro %}

{% macro spark__parse_timestamp(text) -%}
    coalesce(
        try_to_timestamp({{ text }}),
        try_to_timestamp({{ text }}, 'd.M.yyyy H:m:s'),
        try_to_timestamp({{ text }}, 'd.M.yyyy H:m'),
        try_to_timestamp({{ text }}, 'd.M.yyyy')
    )
{%- endmacro %}

{#- A date: ISO `YYYY-MM-DD`, or the Russian day-first `DD.MM.YYYY`. -#}
{% macro parse_date(column) -%}
    {{ return(adapter.dispatch('parse_date', 'crm_segments')(clean_text(column))) }}
{%- endmacro %}

{% macro default__parse_date(text) -%}
    {{ dbt.safe_cast(text, 'date') }}
{%- endmacro %}

{% macro duckdb__parse_date(text) -%}
    coalesce(
        try_cast({{ text }} as date),
        cast(try_strptime({{ text }}, '%d.%m.%Y') as date)
    )
{%- endmacro %}

{% macro spark__parse_date(text) -%}
    coalesce(try_to_date({{ text }}), try_to_date({{ text }}, 'd.M.yyyy'))
{%- endmacro %}

{#- Money and quantities, with a dot for decimals: the landing has rewritten decimal commas and
    thousands separators (orchestration/raw_formats.py). -#}
{% macro parse_decimal(column) -%}
    {{ dbt.safe_cast(clean_text(column), 'decimal(18, 2)') }}
{%- endmacro %}

{#- true / false from the spellings CRMs export; anything else is NULL. -#}
{% macro parse_boolean(column) -%}
    case
        when {{ clean_lower(column) }} in ('true', 't', 'yes', 'y', '1', 'да') then true
        when {{ clean_lower(column) }} in ('false', 'f', 'no', 'n', '0', 'нет') then false
    end
{%- endmacro %}

{#- An address we would send to: one @, no spaces, a dotted domain. Input is already trimmed and lower-cased. -#}
{% macro is_valid_email(column) -%}
    {{ regex_matches(column, '[^@ ]+@[^@ ]+[.][^@ .]{2,}') }}
{%- endmacro %}

{#- The first non-null reason in a list of `case when ... then 'reason' end` expressions. -#}
{% macro first_reason(reasons) -%}
    coalesce(
        {%- for reason in reasons %}
        {{ reason }}{{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#- Field-level problems that do not quarantine the row: a comma-separated list of issue names,
    null when there are none. `checks` is a list of [condition, issue_name]. -#}
{% macro field_issues(checks) -%}
    nullif(concat_ws(
        ','
        {%- for condition, issue in checks %},
        case when {{ condition }} then '{{ issue }}' end
        {%- endfor %}
    ), '')
{%- endmacro %}

{#- The raw columns of a table, from the raw data contract (macros/raw_contract.sql): the base model
    shows a row with a problem as JSON of these, and stg_crm__duplicate_raw_records a duplicate's raw
    row. Order items and email events put `leading` first, the key order their JSON has always had. -#}
{% macro staged_raw_columns(table_name) -%}
    {%- set leading = {
        'order_items': ['order_id', 'product_id', 'category'],
        'email_events': ['customer_id', 'email', 'campaign_id'],
    }.get(table_name, []) -%}
    {%- set contract = raw_contract_columns(table_name) -%}
    {%- set columns = [] -%}
    {%- for column in leading if column in contract -%}
        {%- do columns.append(column) -%}
    {%- endfor -%}
    {%- for column in contract if column not in leading -%}
        {%- do columns.append(column) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#- The raw text of `columns`, carried as `_raw_<column>` to the checks, so that problem_raw_record
    can show the row as it came; cheaper than building the JSON of every row. -#}
{% macro raw_text_columns(relation, columns) -%}
    {%- for column in columns %}
    {{ relation }}.{{ column }} as _raw_{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The raw row as JSON (from raw_text_columns) for a row with a problem of its own (`row_problem`),
    else null. Computed before the duplicate ranking: carrying the raw text through that window
    cost 40% of staging 50M email events. A duplicate's raw row is looked up by
    stg_crm__duplicate_raw_records; audit.quarantined_rows is the only model that shows it. -#}
{% macro problem_raw_record(columns) -%}
    case
        when row_problem is not null
            then {{ json_record(none, columns, prefix='_raw_') }}
    end
{%- endmacro %}

{#- Join condition: the rate row `rates` (valid_from; valid_to, the next row's valid_from; is_earliest)
    is the one in force at `moment`; a currency's earliest row also covers the time before it. -#}
{% macro rate_in_force(moment, rates) -%}
    ({{ moment }} >= {{ rates }}.valid_from or {{ rates }}.is_earliest)
    and ({{ moment }} < {{ rates }}.valid_to or {{ rates }}.valid_to is null)
{%- endmacro %}

{#- The columns rate_in_force needs, for a rates CTE with `currency` and `valid_from`. -#}
{% macro rate_validity(relation='') -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    lead({{ prefix }}valid_from) over (partition by {{ prefix }}currency order by {{ prefix }}valid_from) as valid_to,
    lag({{ prefix }}valid_from) over (partition by {{ prefix }}currency order by {{ prefix }}valid_from) is null as is_earliest
{%- endmacro %}
