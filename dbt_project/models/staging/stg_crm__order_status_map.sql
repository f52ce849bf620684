with base as (
    select * from {{ ref('base_crm__order_status_map') }}
    where quarantine_reason is null
),

final as (
    select
        raw_status,
        order_status,
        _source_file,
        _source_row
    from base
)

select * from final
