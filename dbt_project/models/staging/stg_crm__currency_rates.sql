with base as (
    select * from {{ ref('base_crm__currency_rates') }}
    where quarantine_reason is null
),

final as (
    select
        currency,
        valid_from,
        rate_to_reporting,
        _source_file,
        _source_row
    from base
)

select * from final
