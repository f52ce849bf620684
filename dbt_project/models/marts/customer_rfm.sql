-- One row per customer with at least one completed order as of the as-of date: recency, frequency
-- and monetary value, their scores (see macros/rfm.sql) and the named segment for the code.
-- It aggregates the completed orders itself; tests dim_customers_matches_rfm and
-- rfm_monetary_matches_orders keep it in step with int_customer_order_metrics.
with completed_orders as (
    select * from {{ ref('int_orders__as_of') }}
    where is_completed
),

segment_map as (
    select * from {{ ref('rfm_segment_map') }}
    where
        scheme = '{{ var("rfm_segment_scheme") }}'
        and bins = {{ rfm_bins() }}
),

aggregated as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as frequency,
        sum(amount_reporting) as monetary
    from completed_orders
    group by customer_id
),

-- Every staged order's customer is a staged customer (base_crm__orders quarantines the rest), and an
-- order makes its customer known on the as-of date: no join with the customers needed.
buyers as (
    select
        customer_id,
        first_order_at,
        last_order_at,
        {{ dbt.datediff('cast(last_order_at as date)', as_of_date(), 'day') }} as recency_days,  -- noqa: LT05
        frequency,
        cast(monetary as decimal(18, 2)) as monetary,
        cast(monetary / frequency as decimal(18, 2)) as avg_order_value
    from aggregated
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
