-- The 12-month CLV predicted per buyer (marts.customer_predictions, BG/NBD + Gamma-Gamma): the only
-- place the KPIs read predictions from. Null for every buyer when the data were too thin to fit.
with predictions as (
    select * from {{ ref('customer_predictions') }}
),

final as (
    select
        customer_id,
        predicted_clv_12m
    from predictions
)

select * from final
