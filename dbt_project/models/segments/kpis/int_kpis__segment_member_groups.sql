-- Each current member of a segment twice: in member_group 'all', and in 'treated' or 'holdout'
-- (segment_membership.is_holdout), so every KPI is computed for the three groups alike.
with membership as (
    select * from {{ ref('segment_membership') }}
),

all_members as (
    select
        segment_key,
        customer_id,
        'all' as member_group
    from membership
),

split_members as (
    select
        segment_key,
        customer_id,
        case when is_holdout then 'holdout' else 'treated' end as member_group
    from membership
),

final as (
    select * from all_members
    union all
    select * from split_members
)

select * from final
