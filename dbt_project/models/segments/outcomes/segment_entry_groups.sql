{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['segment_key', 'customer_id', 'entered_on'],
    on_schema_change='fail',
    pre_hook="{{ history_rewind_date('entered_on', frozen=entry_groups_frozen()) }}",
) }}
-- The member group (holdout or treated) each membership interval of segment_membership_history began
-- in, recorded on its entry date: a later change of the catalogue's holdout_share moves nobody's past
-- entries from one group to the other. Written only by a run whose as-of date is the latest of the
-- history (re-running it first rewinds its own rows); an earlier date leaves it as it is, like the
-- history (macros/history.sql).
-- depends_on: {{ ref('segment_history_runs') }}
{% if entry_groups_frozen() %}
select * from {{ this }} where 1 = 0
{% else %}
with membership as (
    select * from {{ ref('segment_membership') }}
),

membership_history as (
    select * from {{ ref('segment_membership_history') }}
),

final as (
    select
        membership_history.segment_key,
        membership_history.customer_id,
        membership_history.valid_from as entered_on,
        membership.is_holdout
    from membership_history
    inner join membership
        on
            membership_history.segment_key = membership.segment_key
            and membership_history.customer_id = membership.customer_id
    where membership_history.valid_from = {{ as_of_date() }}
)

select * from final
{% endif %}
