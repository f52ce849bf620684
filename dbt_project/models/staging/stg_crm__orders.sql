with base as (
    select * from {{ ref('base_crm__orders') }}
    where quarantine_reason is null
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
        discount_amount,
        rate_to_reporting,
        amount_reporting,
        discount_amount_reporting,
        channel,
        data_issues,
        _source_file,
        _source_row
    from base
)

select * from final
