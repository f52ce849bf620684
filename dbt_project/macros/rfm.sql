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

{#- The dimensions of RFM: the metric column of customer_rfm, its score column, whether lower is
    better, its unit and the smallest step between two values (whole days and orders, cents). -#}
{% macro rfm_dimensions() -%}
    {{- return([
        {'name': 'recency', 'metric': 'recency_days', 'score': 'r_score', 'lower_is_better': true,
         'unit': 'days', 'minimum': 0, 'steps_per_unit': 1},
        {'name': 'frequency', 'metric': 'frequency', 'score': 'f_score', 'lower_is_better': false,
         'unit': 'orders', 'minimum': 1, 'steps_per_unit': 1},
        {'name': 'monetary', 'metric': 'monetary', 'score': 'm_score', 'lower_is_better': false,
         'unit': var('reporting_currency'), 'minimum': 0, 'steps_per_unit': 100},
    ]) -}}
{%- endmacro %}

{#- Select-list items `<metric>_cut_<k>` (k = 1..bins-1) with the cut points the configured method
    uses: the quantiles of a relation's rows, or the thresholds as literals. -#}
{% macro rfm_cut_columns(metric) -%}
    {%- if rfm_method() == 'quantile' -%}
        {{ rfm_quantile_cuts(metric) }}
    {%- else -%}
        {%- for cut in rfm_thresholds(metric) %}
        {{ cut }} as {{ metric }}_cut_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{#- The inclusive bounds of the values that get `score` on `dimension` (see rfm_dimensions), in the
    dimension's steps, from the columns `<metric>_cut_<k>`: `side` is 'lower' or 'upper'; none
    (null) above the top. rfm_score climbs past a cut point when the value is strictly beyond it
    (quantile) or reaches it (threshold), so each score holds either (below, above] or
    [below, above) of its two neighbouring cut points. -#}
{% macro rfm_score_bound(dimension, score, side) -%}
    {%- set bins = rfm_bins() -%}
    {%- set metric = dimension.metric -%}
    {%- set steps = dimension.steps_per_unit -%}
    {%- set below_index = bins - score if dimension.lower_is_better else score - 1 -%}
    {%- set index = below_index if side == 'lower' else below_index + 1 -%}
    {#- Quantile & higher is better, or threshold & lower is better: (below, above]. -#}
    {%- set open_below = (rfm_method() == 'quantile') != dimension.lower_is_better -%}
    {%- if index == 0 -%}
        cast({{ dimension.minimum }} as decimal(18, 2))
    {%- elif index == bins -%}
        cast(null as decimal(18, 2))
    {%- else -%}
        {%- set cut = metric ~ '_cut_' ~ index -%}
        {%- if open_below and side == 'lower' -%}
            cast((floor({{ cut }} * {{ steps }}) + 1) / {{ steps }}.0 as decimal(18, 2))
        {%- elif open_below -%}
            cast(floor({{ cut }} * {{ steps }}) / {{ steps }}.0 as decimal(18, 2))
        {%- elif side == 'lower' -%}
            cast(ceil({{ cut }} * {{ steps }}) / {{ steps }}.0 as decimal(18, 2))
        {%- else -%}
            cast((ceil({{ cut }} * {{ steps }}) - 1) / {{ steps }}.0 as decimal(18, 2))
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
