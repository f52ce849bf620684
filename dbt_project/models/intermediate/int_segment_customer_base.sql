-- What segment rules filter on: every column of dim_customers, a few fields derived from the
-- as-of date, and the predictions of marts.customer_predictions (buyers; null for leads) with the
-- send hour and contact pressure of every customer. Its columns are the fields a rule may name
-- (orchestration/segments reads them).
with customers as (
    select * from {{ ref('dim_customers') }}
),

predictions as (
    select * from {{ ref('customer_predictions') }}
),

send_hour as (
    select * from {{ ref('int_customer_send_hour') }}
),

contact_pressure as (
    select * from {{ ref('int_customer_contact_pressure') }}
),

final as (
    select
        customers.*,
        coalesce(
            extract(month from customers.birth_date) = extract(month from {{ as_of_date() }}),
            false
        ) as is_birthday_month,
        {{ dbt.datediff('cast(customers.last_engaged_at as date)', as_of_date(), 'day') }}
            as days_since_last_engaged,

        -- Repeat-purchase timing (buyers with at least var repurchase_min_purchases purchase days).
        predictions.usual_interval_days,
        predictions.next_purchase_expected_on,
        predictions.days_until_next_purchase,
        coalesce(predictions.due_for_repurchase, false) as due_for_repurchase,

        -- CLV models (null for leads, and for everyone when the models were not fitted).
        predictions.clv_frequency,
        predictions.clv_recency_days,
        predictions.clv_t_days,
        predictions.clv_monetary_value,
        predictions.p_alive,
        predictions.expected_purchases_30d,
        predictions.expected_avg_order_value,
        predictions.predicted_clv_12m,
        predictions.churn_risk,
        predictions.prediction_status,

        predictions.top_category,
        predictions.top_categories,

        send_hour.send_timezone,
        send_hour.preferred_send_hour_local,
        send_hour.preferred_send_hour_source,
        coalesce(contact_pressure.emails_received_7d, 0) as emails_received_7d,
        coalesce(contact_pressure.emails_received_30d, 0) as emails_received_30d
    from customers
    left join predictions
        on customers.customer_id = predictions.customer_id
    left join send_hour
        on customers.customer_id = send_hour.customer_id
    left join contact_pressure
        on customers.customer_id = contact_pressure.customer_id
)

select * from final
