with base as (
    select * from {{ ref('base_crm__order_items') }}
    where quarantine_reason is null
),

final as (
    select
        order_id,
        product_id,
        category,
        quantity,
        unit_price,
        line_amount,
        line_amount_reporting,
        _source_file,
        _source_row
    from base
)

select * from final
