-- The current members of every segment as of the as-of date, with the contact fields a sync needs.
-- In an exclusive group a customer keeps only the segment with the lowest priority number.
-- Holdout members (a stable share per segment, var-free: the catalogue's holdout_share) are marked,
-- and syncs leave them out.
with matches as (
    select * from {{ ref('int_segment_rule_matches') }}
),

catalog as (
    select * from {{ ref('stg_segments__catalog') }}
),

customers as (
    select * from {{ ref('int_segment_customer_base') }}
),

ranked as (
    select
        matches.segment_key,
        matches.customer_id,
        catalog.exclusive_group,
        catalog.holdout_share,
        row_number() over (
            partition by coalesce(catalog.exclusive_group, matches.segment_key), matches.customer_id
            order by catalog.priority, matches.segment_key
        ) as group_rank
    from matches
    inner join catalog
        on matches.segment_key = catalog.segment_key
),

final as (
    select
        ranked.segment_key,
        ranked.customer_id,
        {{ as_of_date() }} as as_of_date,
        ranked.exclusive_group,
        {{ is_in_holdout('ranked') }} as is_holdout,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.city,
        customers.region,
        customers.timezone,
        customers.is_emailable,
        customers.rfm_segment,
        customers.lifecycle_status
    from ranked
    inner join customers
        on ranked.customer_id = customers.customer_id
    where ranked.group_rank = 1
)

select * from final
