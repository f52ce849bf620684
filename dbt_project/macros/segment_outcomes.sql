{#- Entry cohorts and uplift (models/segments/outcomes). -#}

{#- The outcome windows, days after a segment entry: the dbt var `outcome_windows_days` (default
    [7, 30, 90]), whole numbers of at least 1, returned sorted without repeats. Any other value
    stops the run with a clear error. -#}
{% macro outcome_windows() -%}
    {%- set windows = var('outcome_windows_days') -%}
    {%- if windows is string or windows is not iterable or windows | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var outcome_windows_days must be a list of whole numbers of days, got '" ~ windows ~ "'"
        ) }}
    {%- endif -%}
    {%- set days = [] -%}
    {%- for window in windows -%}
        {%- if window is not number or window is sameas true or window < 1 or window != window | int -%}
            {{ exceptions.raise_compiler_error(
                "var outcome_windows_days must hold whole numbers of days, at least 1, got '" ~ window ~ "'"
            ) }}
        {%- endif -%}
        {%- if window | int not in days -%}{%- do days.append(window | int) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(days | sort) }}
{%- endmacro %}

{#- True when the run's as-of date is before the latest date the history was built for: the
    history stays as it is (macros/history.sql), and so does segment_entry_groups, whose own dates
    (entries) need not reach that latest date. -#}
{% macro entry_groups_frozen() -%}
    {{ return(history_is_frozen('as_of_date', ref('segment_history_runs'))) }}
{%- endmacro %}

{#- Whole days from the date `entry_date` to the date of the timestamp `moment`: 1 for the day after. -#}
{% macro days_after(entry_date, moment) -%}
    {{ dbt.datediff(entry_date, 'cast(' ~ moment ~ ' as date)', 'day') }}
{%- endmacro %}
