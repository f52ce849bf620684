{{ config(tags=['segments']) }}
-- Consistency: segment_kpis has the three member groups of every catalogue segment, and its member
-- counts are the rows of segment_membership (all; is_holdout false → treated; true → holdout).
-- (Rows for segments outside the catalogue fail the relationships test in _kpis__models.yml.)
with kpis as (
    select * from {{ ref('segment_kpis') }}
),

catalog as (
    select segment_key from {{ ref('segment_catalog') }}
),

membership as (
    select
        segment_key,
        count(*) as all_members,
        sum(case when is_holdout then 0 else 1 end) as treated_members,
        sum(case when is_holdout then 1 else 0 end) as holdout_members
    from {{ ref('segment_membership') }}
    group by segment_key
),

pivoted as (
    select
        segment_key,
        count(*) as group_rows,
        sum(case when member_group = 'all' then members end) as all_members,
        sum(case when member_group = 'treated' then members end) as treated_members,
        sum(case when member_group = 'holdout' then members end) as holdout_members
    from kpis
    group by segment_key
)

select
    catalog.segment_key,
    pivoted.group_rows,
    pivoted.all_members,
    membership.all_members as membership_members,
    pivoted.treated_members,
    membership.treated_members as membership_treated,
    pivoted.holdout_members,
    membership.holdout_members as membership_holdout
from catalog
left join pivoted
    on catalog.segment_key = pivoted.segment_key
left join membership
    on catalog.segment_key = membership.segment_key
where
    pivoted.group_rows is null
    or pivoted.group_rows != 3
    or pivoted.all_members != coalesce(membership.all_members, 0)
    or pivoted.treated_members != coalesce(membership.treated_members, 0)
    or pivoted.holdout_members != coalesce(membership.holdout_members, 0)
