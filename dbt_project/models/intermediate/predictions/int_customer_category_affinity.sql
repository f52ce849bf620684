-- What a buyer buys: product categories ranked by what the buyer spent on them in completed orders
-- by the as-of date (reporting currency; ties: more items, then the name). One row per buyer with
-- at least one categorised order line: the top category and the top var category_affinity_top_n (3)
-- as text, best first, separated by ', '.
with orders as (
    select * from {{ ref('int_orders__as_of') }}
    where is_completed
),

order_items as (
    select * from {{ ref('stg_crm__order_items') }}
    where category is not null
),

category_totals as (
    select
        orders.customer_id,
        order_items.category,
        sum(order_items.line_amount_reporting) as category_spend,
        sum(order_items.quantity) as category_items
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    group by orders.customer_id, order_items.category
),

ranked as (
    select
        *,
        count(*) over (partition by customer_id) as categories_bought,
        row_number() over (
            partition by customer_id
            order by category_spend desc, category_items desc, category asc
        ) as category_rank
    from category_totals
),

final as (
    select
        customer_id,
        max(case when category_rank = 1 then category end) as top_category,
        {{ dbt.listagg('category', "', '", 'order by category_rank') }} as top_categories,
        max(categories_bought) as categories_bought
    from ranked
    where category_rank <= {{ var('category_affinity_top_n') }}
    group by customer_id
)

select * from final
