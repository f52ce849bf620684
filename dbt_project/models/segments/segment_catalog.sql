-- The segment definitions as a table, with their current size.
with catalog as (
    select * from {{ ref('stg_segments__catalog') }}
),

predicates as (
    select * from {{ ref('int_segment_predicates') }}
),

sizes as (
    select
        segment_key,
        count(*) as members,
        sum(case when is_holdout then 1 else 0 end) as holdout_members,
        sum(case when is_emailable and not is_holdout then 1 else 0 end) as emailable_members
    from {{ ref('segment_membership') }}
    group by segment_key
),

final as (
    select
        catalog.segment_key,
        catalog.segment_name,
        catalog.description,
        catalog.owner,
        catalog.kind,
        catalog.parent_key,
        catalog.exclusive_group,
        catalog.priority,
        catalog.holdout_share,
        catalog.definition_text as rule_text,
        predicates.predicate_sql,
        coalesce(sizes.members, 0) as members,
        coalesce(sizes.holdout_members, 0) as holdout_members,
        coalesce(sizes.emailable_members, 0) as emailable_members,
        {{ as_of_date() }} as as_of_date
    from catalog
    left join predicates
        on catalog.segment_key = predicates.segment_key
    left join sizes
        on catalog.segment_key = sizes.segment_key
)

select * from final
