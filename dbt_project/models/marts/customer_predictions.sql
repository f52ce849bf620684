-- One row per buyer as of the as-of date: what the CLV models predict (BG/NBD, Gamma-Gamma; see
-- int_clv_fit), with the inputs they saw, plus repeat-purchase timing, the preferred send hour,
-- category affinity and contact pressure. Definitions in _marts__models.yml.
{% set p_alive_cutoffs = var('churn_risk_p_alive_cutoffs') %}
{% set one_time_days = var('churn_risk_one_time_buyer_days') %}

with clv_inputs as (
    select * from {{ ref('int_clv_inputs') }}
),

clv_predictions as (
    select * from {{ ref('int_clv_predictions') }}
),

repurchase_timing as (
    select * from {{ ref('int_customer_repurchase_timing') }}
),

send_hour as (
    select * from {{ ref('int_customer_send_hour') }}
),

category_affinity as (
    select * from {{ ref('int_customer_category_affinity') }}
),

contact_pressure as (
    select * from {{ ref('int_customer_contact_pressure') }}
),

final as (
    select
        clv_inputs.customer_id,

        clv_inputs.frequency as clv_frequency,
        clv_inputs.recency_days as clv_recency_days,
        clv_inputs.t_days as clv_t_days,
        cast(clv_inputs.monetary_value as decimal(18, 2)) as clv_monetary_value,

        cast(clv_predictions.p_alive as double) as p_alive,
        cast(clv_predictions.expected_purchases_30d as double) as expected_purchases_30d,
        cast(clv_predictions.expected_avg_order_value as decimal(18, 2)) as expected_avg_order_value,
        cast(clv_predictions.predicted_clv_12m as decimal(18, 2)) as predicted_clv_12m,
        case
            when clv_predictions.p_alive is null then null
            when clv_inputs.frequency = 0 and clv_inputs.t_days > {{ one_time_days[1] }} then 'high'
            when clv_inputs.frequency = 0 and clv_inputs.t_days > {{ one_time_days[0] }} then 'medium'
            when clv_inputs.frequency = 0 then 'low'
            when clv_predictions.p_alive < {{ p_alive_cutoffs[0] }} then 'high'
            when clv_predictions.p_alive < {{ p_alive_cutoffs[1] }} then 'medium'
            else 'low'
        end as churn_risk,
        cast(clv_predictions.prediction_status as {{ dbt.type_string() }}) as prediction_status,
        cast(clv_predictions.prediction_message as {{ dbt.type_string() }}) as prediction_message,

        repurchase_timing.usual_interval_days,
        repurchase_timing.next_purchase_expected_on,
        repurchase_timing.days_until_next_purchase,
        coalesce(repurchase_timing.due_for_repurchase, false) as due_for_repurchase,

        send_hour.send_timezone,
        send_hour.preferred_send_hour_local,
        send_hour.preferred_send_hour_source,

        category_affinity.top_category,
        category_affinity.top_categories,

        coalesce(contact_pressure.emails_received_7d, 0) as emails_received_7d,
        coalesce(contact_pressure.emails_received_30d, 0) as emails_received_30d,

        {{ as_of_date() }} as as_of_date
    from clv_inputs
    left join clv_predictions
        on clv_inputs.customer_id = clv_predictions.customer_id
    left join repurchase_timing
        on clv_inputs.customer_id = repurchase_timing.customer_id
    left join send_hour
        on clv_inputs.customer_id = send_hour.customer_id
    left join category_affinity
        on clv_inputs.customer_id = category_affinity.customer_id
    left join contact_pressure
        on clv_inputs.customer_id = contact_pressure.customer_id
)

select * from final
