{#- 95% confidence intervals in portable SQL (segment_uplift). Checked against scipy on the same
    counts and values in tests/test_segment_outcomes.py. Every argument is a SQL expression. -#}

{#- The standard normal quantile for a two-sided 95% interval: scipy.stats.norm.ppf(0.975). -#}
{% macro z_975() -%}
    {{ return(1.959963984540054) }}
{%- endmacro %}

{#- Wilson's score interval for a proportion (no continuity correction; scipy's
    binomtest(successes, trials).proportion_ci(method='wilson')). `side` is 'lower' or 'upper';
    null when trials is 0. -#}
{% macro wilson_bound(successes, trials, side) -%}
    {%- set z = z_975() -%}
    {%- set x = 'cast(' ~ successes ~ ' as ' ~ dbt.type_float() ~ ')' -%}
    {%- set n = 'cast(' ~ trials ~ ' as ' ~ dbt.type_float() ~ ')' -%}
    case
        when {{ trials }} > 0
            then
                ({{ x }} + {{ z * z / 2 }}) / ({{ n }} + {{ z * z }})
                {{ '-' if side == 'lower' else '+' }} {{ z }} / ({{ n }} + {{ z * z }})
                * sqrt({{ x }} * ({{ n }} - {{ x }}) / {{ n }} + {{ z * z / 4 }})
    end
{%- endmacro %}

{#- Newcombe's hybrid score interval for the difference of two proportions p1 - p2 (Newcombe 1998,
    method 10), from the two Wilson intervals (l1, u1) and (l2, u2):
    lower = (p1 - p2) - sqrt((p1 - l1)^2 + (u2 - p2)^2), upper = (p1 - p2) + sqrt((u1 - p1)^2 + (p2 - l2)^2).
    Null when either group is empty. -#}
{% macro newcombe_difference_bound(successes_1, trials_1, successes_2, trials_2, side) -%}
    {%- set p1 = 'cast(' ~ successes_1 ~ ' as ' ~ dbt.type_float() ~ ') / ' ~ trials_1 -%}
    {%- set p2 = 'cast(' ~ successes_2 ~ ' as ' ~ dbt.type_float() ~ ') / ' ~ trials_2 -%}
    case
        when {{ trials_1 }} > 0 and {{ trials_2 }} > 0
            then
                {%- if side == 'lower' %}
                ({{ p1 }}) - ({{ p2 }}) - sqrt(
                    power(({{ p1 }}) - ({{ wilson_bound(successes_1, trials_1, 'lower') }}), 2)
                    + power(({{ wilson_bound(successes_2, trials_2, 'upper') }}) - ({{ p2 }}), 2)
                )
                {%- else %}
                ({{ p1 }}) - ({{ p2 }}) + sqrt(
                    power(({{ wilson_bound(successes_1, trials_1, 'upper') }}) - ({{ p1 }}), 2)
                    + power(({{ p2 }}) - ({{ wilson_bound(successes_2, trials_2, 'lower') }}), 2)
                )
                {%- endif %}
    end
{%- endmacro %}

{#- The 0.975 quantile of Student's t with `df` degrees of freedom (a positive number, fractional
    for Welch's interval). From 10 degrees of freedom up: the Cornish-Fisher expansion in 1/df
    (Abramowitz & Stegun 26.7.5, four terms), within 8e-6 of scipy.stats.t.ppf(0.975, df) at 10 and
    3e-8 at 30. Below 10: the exact quantile at floor(df) (scipy.stats.t.ppf, generated once), which
    is never smaller than the exact one: the interval errs on the wide side. -#}
{% macro student_t_975(df) -%}
    {%- set z = z_975() -%}
    {%- set g1 = (z ** 3 + z) / 4 -%}
    {%- set g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96 -%}
    {%- set g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384 -%}
    {%- set g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160 -%}
    {%- set small_df = [
        12.706204736174694, 4.302652729749462, 3.1824463052837078, 2.7764451051977934,
        2.5705818356363146, 2.4469118511449786, 2.364624251592784, 2.306004135204166,
        2.262157162798205,
    ] -%}
    case
        {%- for quantile in small_df %}
        when {{ df }} < {{ loop.index + 1 }} then {{ quantile }}
        {%- endfor %}
        else
            {{ z }} + {{ g1 }} / ({{ df }}) + {{ g2 }} / power({{ df }}, 2)
            + {{ g3 }} / power({{ df }}, 3) + {{ g4 }} / power({{ df }}, 4)
    end
{%- endmacro %}
