{#- The model (marts.customer_rfm) has rows whenever `orders` (base_crm__orders: accepted and
    quarantined rows) has completed orders dated up to the as-of date. An empty RFM table then
    means the buyers were lost on the way (every order quarantined, a broken join); its children
    (segments, history, syncs) are skipped. Kept as a view (store_failures) for `make run`. -#}
{% test not_empty_when_completed_orders(model, orders) %}
    {{ config(store_failures=true, store_failures_as='view', schema='quality') }}

with model_rows as (
    select count(*) as model_rows from {{ model }}
),

completed_orders as (
    select
        count(*) as completed_orders,
        sum(case when quarantine_reason is null then 0 else 1 end) as quarantined_orders
    from {{ orders }}
    where
        order_status = 'completed'
        and ordered_at < {{ as_of_cutoff() }}
)

select
    {{ as_of_date() }} as as_of_date,
    model_rows.model_rows,
    completed_orders.completed_orders,
    completed_orders.quarantined_orders
from model_rows
cross join completed_orders
where model_rows.model_rows = 0 and completed_orders.completed_orders > 0

{% endtest %}
