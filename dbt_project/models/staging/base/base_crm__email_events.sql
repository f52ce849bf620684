{{ config(**incremental_staging_config()) }}
-- depends_on: {{ source('crm', '_landed_files') }}
-- Every raw email event, typed and tied to a customer, with the reason it cannot be staged (null
-- when it can). Events that name only an email are matched on the customers' cleaned email; where
-- several customers share it, the smallest customer_id gets the event. Of identical events the
-- last wins (as in base_crm__orders). Incremental: see macros/incremental_staging.sql.
-- `_staged_in_run`, `_restaged_from_run` and `_customer_id_before_restage` tell the per-email fact
-- (int_email_first_events) which rows this run staged, which run staged the version a restaged row
-- replaces, and which customer a moved event belonged to before.
{% set plan = staging_restage_plan('email_events') %}
{% set raw_columns = staged_raw_columns('email_events') %}

with customers as (
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
{% if not plan['all'] %}
-- Staged events whose customer would be another one now (their customer appeared or went away,
-- or their email now belongs to someone else).
moved_events as (
    select
        staged._source_file,
        staged._source_row,
        staged.customer_id as customer_id_before,
        coalesce(known_customer.customer_id, by_email.customer_id) as customer_id_now,
        staged.campaign_id,
        staged.event_type,
        staged.occurred_at,
        staged._staged_in_run
    from {{ this }} as staged
    left join customers as known_customer
        on staged.customer_id_given = known_customer.customer_id
    left join customers_by_email as by_email
        on
            staged.customer_id_given is null
            and staged.email_given = by_email.email
    where
        (staged.customer_id_given is not null or staged.email_given is not null)
        and (
            staged.customer_id != coalesce(known_customer.customer_id, by_email.customer_id)
            or (staged.customer_id is null)
            != (coalesce(known_customer.customer_id, by_email.customer_id) is null)
        )
),

new_events as (
    select
        coalesce(known_customer.customer_id, by_email.customer_id) as customer_id,
        {{ clean_text('source.campaign_id') }} as campaign_id,
        event_type_map.event_type,
        {{ parse_timestamp('source.occurred_at') }} as occurred_at
    from {{ source('crm', 'email_events') }} as source
    left join event_type_map
        on {{ clean_lower('source.event_type') }} = event_type_map.raw_event_type
    left join customers as known_customer
        on {{ clean_text('source.customer_id') }} = known_customer.customer_id
    left join customers_by_email as by_email
        on
            {{ clean_text('source.customer_id') }} is null
            and {{ clean_lower('source.email') }} = by_email.email
    where source._load_id > {{ plan['last_load'] }}
),

-- Duplicates are ranked among the events with the same customer, campaign, type and time: every
-- such group a new or moved event joins or leaves is ranked again.
affected_groups as (
    select customer_id, campaign_id, event_type, occurred_at from new_events
    union
    select customer_id_before, campaign_id, event_type, occurred_at from moved_events
    union
    select customer_id_now, campaign_id, event_type, occurred_at from moved_events
),

restage_keys as (
    select
        _source_file,
        _source_row,
        _staged_in_run
    from moved_events
    union
    select
        staged._source_file,
        staged._source_row,
        staged._staged_in_run
    from {{ this }} as staged
    inner join affected_groups
        on
            staged.customer_id = affected_groups.customer_id
            and staged.event_type = affected_groups.event_type
            and staged.occurred_at = affected_groups.occurred_at
            and coalesce(staged.campaign_id, '') = coalesce(affected_groups.campaign_id, '')
),
{% endif %}
source as (
    {{ staging_rows_to_restage(source('crm', 'email_events'), plan, 'select * from restage_keys') }}
),

cleaned as (
    select
        {{ clean_text('source.customer_id') }} as customer_id_given,
        {{ clean_lower('source.email') }} as email_given,
        {{ clean_text('source.campaign_id') }} as campaign_id,
        {{ clean_lower('source.event_type') }} as event_type_raw,
        {{ parse_timestamp('source.occurred_at') }} as occurred_at,
        {{ raw_text_columns('source', raw_columns) }},
        source._source_file,
        source._source_row,
        source._load_id
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

-- Built before the ranking, so the raw text is not carried through it; a duplicate's raw row is
-- looked up by stg_crm__duplicate_raw_records and shown in audit.quarantined_rows.
recorded as (
    select
        *,
        {{ problem_raw_record(raw_columns) }} as raw_record
    from checked
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, campaign_id, event_type, occurred_at, row_problem is null
            order by _source_file desc, _source_row desc
        ) as occurrence_rank
    from recorded
),

final as (
    select
        ranked.customer_id,
        ranked.campaign_id,
        ranked.event_type,
        ranked.occurred_at,
        cast({{ dbt.date_trunc('day', 'ranked.occurred_at') }} as date) as occurred_on,
        ranked.email_given is not null and ranked.customer_id_given is null as is_matched_by_email,
        coalesce(
            ranked.row_problem,
            case when ranked.occurrence_rank > 1 then 'duplicate_event' end
        ) as quarantine_reason,
        ranked.raw_record,
        ranked.customer_id_given,
        ranked.email_given,
        ranked._source_file,
        ranked._source_row,
        ranked._load_id,
        '{{ staging_version() }}' as _staging_version,
        {{ staging_run_stamp() }} as _staged_in_run,
        {%- if plan['all'] %}
        cast(null as {{ dbt.type_timestamp() }}) as _restaged_from_run,
        cast(null as {{ dbt.type_string() }}) as _customer_id_before_restage
        {%- else %}
        restage_keys._staged_in_run as _restaged_from_run,
        moved_events.customer_id_before as _customer_id_before_restage
        {%- endif %}
    from ranked
    {%- if not plan['all'] %}
    left join restage_keys
        on
            ranked._source_file = restage_keys._source_file
            and ranked._source_row = restage_keys._source_row
    left join moved_events
        on
            ranked._source_file = moved_events._source_file
            and ranked._source_row = moved_events._source_row
    {%- endif %}
)

select * from final
