-- Every raw customer row, typed, with the reason it cannot be staged (null when it can).
-- A customer is kept even with a bad email or birth date: those fields become null and are
-- listed in data_issues. Of several rows with one customer_id, the latest updated_at wins.
with source as (
    select * from {{ source('crm', 'customers') }}
),

lead_status_map as (
    select * from {{ ref('lead_status_map') }}
),

cleaned as (
    select
        {{ clean_text('source.customer_id') }} as customer_id,
        {{ clean_lower('source.email') }} as email_cleaned,
        {{ clean_text('source.phone') }} as phone,
        {{ clean_text('source.first_name') }} as first_name,
        {{ clean_text('source.last_name') }} as last_name,
        case
            when {{ clean_lower('source.gender') }} in ('m', 'male', 'man', 'м', 'муж', 'мужской') then 'male'
            when {{ clean_lower('source.gender') }} in ('f', 'female', 'woman', 'ж', 'жен', 'женский') then 'female'
        end as gender,
        {{ parse_date('source.birth_date') }} as birth_date,
        {{ clean_text('source.city') }} as city,
        {{ clean_text('source.region') }} as region,
        {{ clean_text('source.country') }} as country,
        {{ clean_text('source.timezone') }} as timezone,
        {{ clean_lower('source.acquisition_channel') }} as acquisition_channel,
        {{ clean_lower('source.lead_status') }} as lead_status_raw,
        lead_status_map.lead_status,
        {{ parse_boolean('source.email_opt_in') }} as email_opt_in,
        {{ parse_timestamp('source.created_at') }} as created_at,
        {{ parse_timestamp('source.updated_at') }} as updated_at,
        source.birth_date as birth_date_text,
        source.email_opt_in as email_opt_in_text,
        source.created_at as created_at_text,
        source.updated_at as updated_at_text,
        {{ json_record('source', staged_raw_columns('customers')) }} as raw_record,
        source._source_file,
        source._source_row
    from source
    left join lead_status_map
        on {{ clean_lower('source.lead_status') }} = lead_status_map.raw_status
),

checked as (
    select
        *,
        case when email_cleaned is not null and {{ is_valid_email('email_cleaned') }} then email_cleaned end as email,
        case
            when email_cleaned is null then 'missing'
            when {{ is_valid_email('email_cleaned') }} then 'valid'
            else 'malformed'
        end as email_status,
        row_number() over (
            partition by customer_id
            order by updated_at desc nulls last, _source_file desc, _source_row desc
        ) as version_rank
    from cleaned
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
        {{ field_issues([
            ["email_status = 'malformed'", 'malformed_email'],
            ["birth_date is null and birth_date_text is not null", 'invalid_birth_date'],
            ["lead_status is null and lead_status_raw is not null", 'unknown_lead_status'],
            ["email_opt_in is null and email_opt_in_text is not null", 'invalid_email_opt_in'],
            ["created_at is null and created_at_text is not null", 'invalid_created_at'],
            ["updated_at is null and updated_at_text is not null", 'invalid_updated_at'],
        ]) }} as data_issues,
        {{ first_reason([
            "case when customer_id is null then 'missing_customer_id' end",
            "case when version_rank > 1 then 'duplicate_customer_id' end",
        ]) }} as quarantine_reason,
        raw_record,
        _source_file,
        _source_row
    from checked
)

select * from final
