-- Every raw order line, typed and priced in the reporting currency at its order's rate, with the
-- reason it cannot be staged (null when it can). A line is one product of one order.
with source as (
    select * from {{ source('crm', 'order_items') }}
),

orders as (
    select
        order_id,
        rate_to_reporting
    from {{ ref('stg_crm__orders') }}
),

cleaned as (
    select
        {{ clean_text('source.order_id') }} as order_id,
        {{ clean_text('source.product_id') }} as product_id,
        {{ clean_lower('source.category') }} as category,
        {{ parse_decimal('source.quantity') }} as quantity,
        {{ parse_decimal('source.unit_price') }} as unit_price,
        {{ json_record('source', [
            'order_id', 'product_id', 'category', 'quantity', 'unit_price',
        ]) }} as raw_record,
        source._source_file,
        source._source_row
    from source
),

checked as (
    select
        cleaned.*,
        orders.rate_to_reporting,
        {{ first_reason([
            "case when cleaned.order_id is null then 'missing_order_id' end",
            "case when cleaned.product_id is null then 'missing_product_id' end",
            "case when cleaned.quantity is null or cleaned.quantity <= 0 then 'invalid_quantity' end",
            "case when cleaned.unit_price is null or cleaned.unit_price < 0 then 'invalid_unit_price' end",
            "case when orders.order_id is null then 'unknown_order' end",
        ]) }} as row_problem
    from cleaned
    left join orders
        on cleaned.order_id = orders.order_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by order_id, product_id, row_problem is null
            order by _source_row desc
        ) as occurrence_rank
    from checked
),

final as (
    select
        order_id,
        product_id,
        category,
        quantity,
        unit_price,
        cast(quantity * unit_price as decimal(18, 2)) as line_amount,
        cast(quantity * unit_price * rate_to_reporting as decimal(18, 2)) as line_amount_reporting,
        coalesce(
            row_problem,
            case when occurrence_rank > 1 then 'duplicate_order_item' end
        ) as quarantine_reason,
        raw_record,
        _source_file,
        _source_row
    from ranked
)

select * from final
