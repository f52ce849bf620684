with base as (
    select * from {{ ref('base_crm__email_events') }}
    where quarantine_reason is null
),

final as (
    select
        customer_id,
        campaign_id,
        event_type,
        occurred_at,
        occurred_on,
        is_matched_by_email,
        _source_file,
        _source_row
    from base
)

select * from final
