-- One row per sync run, as written by orchestration/syncs into sync_state.sync_runs.
-- The tables are created by the pre-hook of stg_sync__provider_unsubscribes when no sync ran yet
-- (macro sync_state_ddl, the DDL the syncs run too).
-- depends_on: {{ ref('stg_sync__provider_unsubscribes') }}
with runs as (
    select * from {{ source('sync_state', 'sync_runs') }}
),

final as (
    select
        run_id,
        sync_name,
        destination,
        target,
        segment_key,
        mode,
        as_of_date,
        full_resync,
        started_at,
        finished_at,
        members,
        excluded_holdout,
        excluded_consent,
        excluded_no_email,
        excluded_shared_email,
        sent,
        added,
        updated,
        removed,
        failed,
        status,
        error
    from runs
)

select * from final
