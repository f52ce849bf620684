-- One row per order visible on the as-of date, every status, with the amount in the reporting currency.
with orders as (
    select * from {{ ref('int_orders__as_of') }}
),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        ordered_on,
        order_status,
        is_completed,
        currency,
        amount,
        amount_reporting,
        discount_amount_reporting,
        channel,
        {{ as_of_date() }} as as_of_date
    from orders
)

select * from final
