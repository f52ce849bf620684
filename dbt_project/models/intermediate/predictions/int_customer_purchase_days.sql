-- One row per buyer and UTC day with a completed order by the as-of date: the purchase occasions of
-- the CLV models and of the repeat-purchase timing. Several orders on one day are one purchase
-- (pymc-marketing's rfm_summary convention); their amounts add up, in the reporting currency.
with orders as (
    select * from {{ ref('int_orders__as_of') }}
    where is_completed
),

customers as (
    select customer_id from {{ ref('int_customers__as_of') }}
),

purchase_days as (
    select
        orders.customer_id,
        orders.ordered_on as purchased_on,
        count(*) as orders,
        sum(orders.amount_reporting) as amount_reporting
    from orders
    inner join customers
        on orders.customer_id = customers.customer_id
    group by orders.customer_id, orders.ordered_on
),

numbered as (
    select
        *,
        row_number() over (partition by customer_id order by purchased_on) as purchase_number,
        lag(purchased_on) over (partition by customer_id order by purchased_on) as previous_purchased_on
    from purchase_days
),

final as (
    select
        customer_id,
        purchased_on,
        orders,
        amount_reporting,
        purchase_number,
        previous_purchased_on,
        {{ dbt.datediff('previous_purchased_on', 'purchased_on', 'day') }} as days_since_previous_purchase  -- noqa: LT05
    from numbered
)

select * from final
