with base as (
    select * from {{ ref('base_crm__customers') }}
    where quarantine_reason is null
),

final as (
    select
        customer_id,
        email,
        email_status,
        phone,
        first_name,
        last_name,
        gender,
        birth_date,
        city,
        region,
        country,
        timezone,
        acquisition_channel,
        lead_status,
        email_opt_in,
        created_at,
        updated_at,
        data_issues,
        _source_file,
        _source_row
    from base
)

select * from final
