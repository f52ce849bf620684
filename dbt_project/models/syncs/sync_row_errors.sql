-- Rows a platform rejected, per sync, contact and operation, as written by orchestration/syncs.
-- The tables are created by the pre-hook of stg_sync__provider_unsubscribes when no sync ran yet
-- (macro sync_state_ddl, the DDL the syncs run too).
-- depends_on: {{ ref('stg_sync__provider_unsubscribes') }}
with row_errors as (
    select * from {{ source('sync_state', 'sync_row_errors') }}
),

final as (
    select
        sync_name,
        email,
        customer_id,
        operation,
        reason,
        attempts,
        first_seen_at,
        last_seen_at,
        last_run_id,
        resolved_at,
        resolved_at is null as is_open
    from row_errors
)

select * from final
