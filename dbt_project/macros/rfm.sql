{#- RFM scoring. Scores run 1..rfm_bins, higher is better. Both methods compare each value with
    rfm_bins - 1 cut points, so equal values always get equal scores:
    - quantile: cut points are the k/bins percentiles (linear interpolation, like percentile_cont)
      of the buyers as of the as-of date; a value must be beyond a cut point to climb past it.
    - threshold: cut points come from the var rfm_thresholds; recency_days are inclusive upper
      bounds of the better bins, frequency and monetary inclusive lower bounds. -#}

{% macro rfm_bins() -%}
    {%- set bins = var('rfm_bins') | int -%}
    {%- if bins not in [4, 5] -%}
        {{ exceptions.raise_compiler_error("var rfm_bins must be 4 or 5, got " ~ var('rfm_bins')) }}
    {%- endif -%}
    {{- return(bins) -}}
{%- endmacro %}

{% macro rfm_method() -%}
    {%- set method = var('rfm_method') -%}
    {%- if method not in ['quantile', 'threshold'] -%}
        {{ exceptions.raise_compiler_error("var rfm_method must be 'quantile' or 'threshold', got '" ~ method ~ "'") }}
    {%- endif -%}
    {{- return(method) -}}
{%- endmacro %}

{#- The analysts' cut points for one metric, checked: rfm_bins - 1 ascending numbers. -#}
{% macro rfm_thresholds(metric) -%}
    {%- set cuts = var('rfm_thresholds', {}).get(metric) -%}
    {%- set expected = rfm_bins() - 1 -%}
    {%- if cuts is none or cuts | length != expected -%}
        {{ exceptions.raise_compiler_error(
            "var rfm_thresholds." ~ metric ~ " must list " ~ expected ~ " ascending numbers for rfm_bins="
            ~ rfm_bins() ~ ", got " ~ cuts) }}
    {%- endif -%}
    {%- for index in range(1, cuts | length) -%}
        {%- if cuts[index] < cuts[index - 1] -%}
            {{ exceptions.raise_compiler_error("var rfm_thresholds." ~ metric ~ " must be ascending, got " ~ cuts) }}
        {%- endif -%}
    {%- endfor -%}
    {{- return(cuts) -}}
{%- endmacro %}

{#- Select-list items computing the quantile cut points of `metric` over a relation's rows. -#}
{% macro rfm_quantile_cuts(metric) -%}
    {%- set bins = rfm_bins() -%}
    {%- for k in range(1, bins) %}
        {{ percentile_cont(metric, (k / bins) | round(6)) }} as {{ metric }}_cut_{{ k }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The score of `metric` (1..bins). `lower_is_better` for recency. With the quantile method the
    cut points are columns `<metric>_cut_<k>` of the current row. -#}
{% macro rfm_score(metric, lower_is_better=false) -%}
    {%- set bins = rfm_bins() -%}
    {%- if rfm_method() == 'quantile' -%}
        {%- set comparison = '<' if lower_is_better else '>' -%}
        {%- set cuts = [] -%}
        {%- for k in range(1, bins) -%}{%- do cuts.append(metric ~ '_cut_' ~ k) -%}{%- endfor -%}
    {%- else -%}
        {%- set comparison = '<=' if lower_is_better else '>=' -%}
        {%- set cuts = rfm_thresholds(metric) -%}
    {%- endif -%}
    (1
        {%- for cut in cuts %}
        + case when {{ metric }} {{ comparison }} {{ cut }} then 1 else 0 end
        {%- endfor %}
    )
{%- endmacro %}
