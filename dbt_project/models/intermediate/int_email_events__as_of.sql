-- A view: a filter over a staged table, read by aggregates that are tables.
{{ config(materialized='view') }}
-- Staged email events, plus the opt-outs the email platforms reported back to the syncs, that
-- happened before the end of the as-of day.
with email_events as (
    select
        customer_id,
        campaign_id,
        event_type,
        occurred_at,
        occurred_on,
        is_matched_by_email,
        _source_file,
        _source_row
    from {{ ref('stg_crm__email_events') }}
),

provider_opt_outs as (
    select
        customer_id,
        campaign_id,
        event_type,
        occurred_at,
        occurred_on,
        is_matched_by_email,
        _source_file,
        _source_row
    from {{ ref('stg_sync__provider_unsubscribes') }}
),

all_events as (
    select * from email_events
    union all
    select * from provider_opt_outs
),

visible as (
    select *
    from all_events
    where occurred_at < {{ as_of_cutoff() }}
)

select * from visible
