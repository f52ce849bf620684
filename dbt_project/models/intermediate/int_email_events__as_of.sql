-- Staged email events that happened before the end of the as-of day.
with email_events as (
    select * from {{ ref('stg_crm__email_events') }}
),

visible as (
    select *
    from email_events
    where occurred_at < {{ as_of_cutoff() }}
)

select * from visible
