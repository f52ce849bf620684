-- One row per customer with at least one completed order as of the as-of date: recency, frequency
-- and monetary value, their scores (see macros/rfm.sql) and the named segment for the code.
with order_metrics as (
    select * from {{ ref('int_customer_order_metrics') }}
    where completed_orders > 0
),

segment_map as (
    select * from {{ ref('rfm_segment_map') }}
    where
        scheme = '{{ var("rfm_segment_scheme") }}'
        and bins = {{ rfm_bins() }}
),

buyers as (
    select
        order_metrics.customer_id,
        order_metrics.first_order_at,
        order_metrics.last_order_at,
        order_metrics.recency_days,
        order_metrics.completed_orders as frequency,
        order_metrics.monetary,
        order_metrics.avg_order_value
    -- Every staged order's customer is a staged customer (base_crm__orders quarantines the rest),
    -- and an order makes its customer known on the as-of date: no join with the customers needed.
    from order_metrics
),

{% if rfm_method() == 'quantile' %}
cut_points as (
    select
        {{ rfm_quantile_cuts('recency_days') }},
        {{ rfm_quantile_cuts('frequency') }},
        {{ rfm_quantile_cuts('monetary') }}
    from buyers
),

buyers_with_cuts as (
    select
        buyers.*,
        cut_points.*
    from buyers
    cross join cut_points
),
{% else %}
buyers_with_cuts as (
    select * from buyers
),
{% endif %}

scored as (
    select
        customer_id,
        first_order_at,
        last_order_at,
        recency_days,
        frequency,
        monetary,
        avg_order_value,
        {{ rfm_score('recency_days', lower_is_better=true) }} as r_score,
        {{ rfm_score('frequency') }} as f_score,
        {{ rfm_score('monetary') }} as m_score
    from buyers_with_cuts
),

final as (
    select
        scored.*,
        {{ dbt.concat([
            dbt.safe_cast('scored.r_score', dbt.type_string()),
            dbt.safe_cast('scored.f_score', dbt.type_string()),
            dbt.safe_cast('scored.m_score', dbt.type_string()),
        ]) }} as rfm_code,
        segment_map.rfm_segment,
        {{ as_of_date() }} as as_of_date
    from scored
    left join segment_map
        on
            scored.r_score = segment_map.r_score
            and scored.f_score = segment_map.f_score
            and scored.m_score = segment_map.m_score
)

select * from final
