-- Opt-outs reported back by the email platforms, as email events (the columns of
-- stg_crm__email_events), tied to customers by their cleaned email.
with unsubscribes as (
    select * from {{ source('sync_state', 'provider_unsubscribes') }}
),

customers as (
    select
        customer_id,
        email
    from {{ ref('stg_crm__customers') }}
    where email is not null
),

customers_by_email as (
    select
        email,
        min(customer_id) as customer_id
    from customers
    group by email
),

-- One event per platform, address and kind, at the earliest time seen: several syncs of one
-- platform read the same opt-out, and a later change to the member at the platform (which moves
-- Mailchimp's last_changed) is not a second opt-out.
deduplicated as (
    select
        provider,
        email_key,
        kind,
        min(occurred_at) as occurred_at
    from unsubscribes
    group by provider, email_key, kind
),

final as (
    select
        customers_by_email.customer_id,
        cast(null as varchar) as campaign_id,
        case deduplicated.kind
            when 'unsubscribed' then 'unsubscribe'
            when 'complained' then 'complaint'
            when 'cleaned' then 'bounce'
        end as event_type,
        deduplicated.occurred_at,
        cast({{ dbt.date_trunc('day', 'deduplicated.occurred_at') }} as date) as occurred_on,
        true as is_matched_by_email,
        {{ dbt.concat(["'sync_state.provider_unsubscribes/'", 'deduplicated.provider']) }} as _source_file,
        row_number() over (
            order by deduplicated.provider, deduplicated.email_key, deduplicated.kind, deduplicated.occurred_at
        ) as _source_row
    from deduplicated
    inner join customers_by_email
        on deduplicated.email_key = customers_by_email.email
)

select * from final
