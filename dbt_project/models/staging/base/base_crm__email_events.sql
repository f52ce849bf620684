-- Every raw email event, typed and tied to a customer, with the reason it cannot be staged (null
-- when it can). Events that name only an email are matched on the customers' cleaned email; where
-- several customers share it, the smallest customer_id gets the event.
with source as (
    select * from {{ source('crm', 'email_events') }}
),

customers as (
    select
        customer_id,
        email
    from {{ ref('stg_crm__customers') }}
),

customers_by_email as (
    select
        email,
        min(customer_id) as customer_id
    from customers
    where email is not null
    group by email
),

event_type_map as (
    select * from {{ ref('email_event_type_map') }}
),

cleaned as (
    select
        {{ clean_text('source.customer_id') }} as customer_id_given,
        {{ clean_lower('source.email') }} as email_given,
        {{ clean_text('source.campaign_id') }} as campaign_id,
        {{ clean_lower('source.event_type') }} as event_type_raw,
        {{ parse_timestamp('source.occurred_at') }} as occurred_at,
        {{ json_record('source', [
            'customer_id', 'email', 'campaign_id', 'event_type', 'occurred_at',
        ]) }} as raw_record,
        source._source_file,
        source._source_row
    from source
),

resolved as (
    select
        cleaned.*,
        event_type_map.event_type,
        coalesce(known_customer.customer_id, by_email.customer_id) as customer_id
    from cleaned
    left join event_type_map
        on cleaned.event_type_raw = event_type_map.raw_event_type
    left join customers as known_customer
        on cleaned.customer_id_given = known_customer.customer_id
    left join customers_by_email as by_email
        on
            cleaned.customer_id_given is null
            and cleaned.email_given = by_email.email
),

checked as (
    select
        *,
        {{ first_reason([
            "case when event_type is null then 'unknown_event_type' end",
            "case when occurred_at is null then 'invalid_occurred_at' end",
            "case when customer_id_given is null and email_given is null then 'missing_customer' end",
            "case when customer_id is null and customer_id_given is not null then 'unknown_customer' end",
            "case when customer_id is null then 'unknown_email' end",
        ]) }} as row_problem
    from resolved
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, campaign_id, event_type, occurred_at, row_problem is null
            order by _source_row desc
        ) as occurrence_rank
    from checked
),

final as (
    select
        customer_id,
        campaign_id,
        event_type,
        occurred_at,
        cast({{ dbt.date_trunc('day', 'occurred_at') }} as date) as occurred_on,
        email_given is not null and customer_id_given is null as is_matched_by_email,
        coalesce(
            row_problem,
            case when occurrence_rank > 1 then 'duplicate_event' end
        ) as quarantine_reason,
        raw_record,
        _source_file,
        _source_row
    from ranked
)

select * from final
