{#- Every value of each of `column_names` lies in [min_value, max_value] (null too when
    allow_null is false): one query for many columns, where values_between needs one per column. -#}
{% test columns_between(model, column_names, min_value, max_value, allow_null=true) %}

select *
from {{ model }}
where
    {%- for column in column_names %}
    {{ 'or ' if not loop.first }}{{ column }} < {{ min_value }}
    or {{ column }} > {{ max_value }}
    {%- if not allow_null %}
    or {{ column }} is null
    {%- endif %}
    {%- endfor %}

{% endtest %}
