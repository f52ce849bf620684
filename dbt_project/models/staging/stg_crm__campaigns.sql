with base as (
    select * from {{ ref('base_crm__campaigns') }}
    where quarantine_reason is null
),

final as (
    select
        campaign_id,
        campaign_name,
        channel,
        sent_at,
        cost,
        data_issues,
        _source_file,
        _source_row
    from base
)

select * from final
