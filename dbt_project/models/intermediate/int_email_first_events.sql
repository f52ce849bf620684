{{ config(
    materialized='incremental',
    incremental_strategy=adapter.dispatch('staging_incremental_strategy', 'crm_segments')(),
    unique_key=['customer_id', 'campaign_id'],
    on_schema_change='sync_all_columns',
    pre_hook="{{ clear_fact_when_rebuilding('base_crm__email_events') }}",
    post_hook="delete from {{ this }} where first_event_at is null",
) }}
-- One row per email (a customer and a campaign) with the first time each event type happened, over
-- all staged events whatever their date: int_emails reads it as of a date (an email is visible
-- once its first event is, an open counts once the first open is before the cutoff). Kept
-- incrementally (macros/incremental_facts.sql): a nightly run folds in the events staged since its
-- last run; an email that lost an event (moved to another customer) is recounted.
{% set plan = staged_since_plan(ref('base_crm__email_events'), is_incremental()) %}

-- Usable events that belong to an email; those without a campaign_id do not.
with email_events as (
    select
        customer_id,
        campaign_id,
        event_type,
        occurred_at,
        _staged_in_run
    from {{ ref('base_crm__email_events') }}
    where quarantine_reason is null and campaign_id is not null
),
{% if plan['all'] %}
final as (
    select
        email_events.customer_id,
        email_events.campaign_id,
        {{ email_first_event_aggregates('email_events') }}
    from email_events
    group by email_events.customer_id, email_events.campaign_id
)
{% else %}
-- Read on its own rather than from a CTE shared with email_events, which DuckDB would materialise
-- (a copy of every staged event).
staged_since as (
    select
        customer_id,
        campaign_id,
        event_type,
        occurred_at,
        quarantine_reason,
        _staged_in_run,
        _customer_id_before_restage
    from {{ ref('base_crm__email_events') }}
    where _staged_in_run > {{ plan['since'] }}
),

-- Emails that an event left in this run (its customer changed), recounted from their events.
left_emails as (
    select distinct
        _customer_id_before_restage as customer_id,
        campaign_id
    from staged_since
    where _customer_id_before_restage is not null and campaign_id is not null
),

-- An inner join first: the few emails are the join's build side, not the millions of events.
left_email_events as (
    select email_events.*
    from email_events
    inner join left_emails
        on
            email_events.customer_id = left_emails.customer_id
            and email_events.campaign_id = left_emails.campaign_id
),

recounted as (
    select
        left_emails.customer_id,
        left_emails.campaign_id,
        {{ email_first_event_aggregates('left_email_events') }}
    from left_emails
    left join left_email_events
        on
            left_emails.customer_id = left_email_events.customer_id
            and left_emails.campaign_id = left_email_events.campaign_id
    group by left_emails.customer_id, left_emails.campaign_id
),

-- The other emails only gained events: the earlier of what they had and what came.
gained as (
    select
        staged_since.customer_id,
        staged_since.campaign_id,
        {{ email_first_event_aggregates('staged_since') }}
    from staged_since
    left join left_emails
        on
            staged_since.customer_id = left_emails.customer_id
            and staged_since.campaign_id = left_emails.campaign_id
    where
        staged_since.quarantine_reason is null
        and staged_since.campaign_id is not null
        and left_emails.customer_id is null
    group by staged_since.customer_id, staged_since.campaign_id
),

merged as (
    select
        gained.customer_id,
        gained.campaign_id,
        {{ earliest('folded.first_event_at', 'gained.first_event_at') }} as first_event_at,
        {%- for event_type in email_event_types() %}
        {{ earliest('folded.first_' ~ event_type ~ '_at', 'gained.first_' ~ event_type ~ '_at') }}
            as first_{{ event_type }}_at,
        {%- endfor %}
        gained._staged_in_run
    from gained
    left join {{ this }} as folded
        on
            gained.customer_id = folded.customer_id
            and gained.campaign_id = folded.campaign_id
),

final as (
    select * from recounted
    union all
    select * from merged
)
{% endif %}
select
    final.*,
    '{{ staging_version() }}' as _model_version
from final
