-- A view: a filter over a staged table, read by aggregates that are tables.
{{ config(materialized='view') }}
-- Staged orders placed before the end of the as-of day: what was known on that day.
with orders as (
    select * from {{ ref('stg_crm__orders') }}
),

visible as (
    select *
    from orders
    where ordered_at < {{ as_of_cutoff() }}
)

select * from visible
