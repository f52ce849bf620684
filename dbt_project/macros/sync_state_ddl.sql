{#-
  The sync_state tables (README, "Syncs"): the one definition of their DDL. The body is plain SQL,
  statements ending in ";": orchestration/syncs/state.py reads it from this file and runs it before a
  sync, and the pre-hook of stg_sync__provider_unsubscribes runs it through dbt. Column types are
  single words (varchar, bigint, ...). A column added after a release goes last in its table and
  gets an "alter table ... add column if not exists" line, which upgrades existing warehouses.
-#}
{% macro sync_state_ddl() %}
create schema if not exists sync_state;
create table if not exists sync_state.delivered (
    sync_name varchar,
    email_key varchar,
    email varchar,
    customer_id varchar,
    fields_hash varchar,
    fields_json varchar,
    delivered_at timestamp,
    run_id varchar
);
create table if not exists sync_state.targets (
    sync_name varchar,
    destination varchar,
    target varchar,
    fingerprint varchar,
    last_success_at timestamp,
    last_as_of_date date,
    unsubscribes_checked_at timestamp
);
create table if not exists sync_state.sync_runs (
    run_id varchar,
    sync_name varchar,
    destination varchar,
    target varchar,
    segment_key varchar,
    mode varchar,
    as_of_date date,
    full_resync boolean,
    started_at timestamp,
    finished_at timestamp,
    members bigint,
    excluded_holdout bigint,
    excluded_consent bigint,
    excluded_no_email bigint,
    sent bigint,
    added bigint,
    updated bigint,
    removed bigint,
    failed bigint,
    status varchar,
    error varchar,
    excluded_shared_email bigint
);
alter table sync_state.sync_runs add column if not exists excluded_shared_email bigint;
create table if not exists sync_state.sync_row_errors (
    sync_name varchar,
    email_key varchar,
    email varchar,
    customer_id varchar,
    operation varchar,
    reason varchar,
    attempts integer,
    first_seen_at timestamp,
    last_seen_at timestamp,
    last_run_id varchar,
    resolved_at timestamp
);
create table if not exists sync_state.provider_unsubscribes (
    provider varchar,
    sync_name varchar,
    target varchar,
    email varchar,
    email_key varchar,
    kind varchar,
    occurred_at timestamp,
    fetched_at timestamp
);
{% endmacro %}
