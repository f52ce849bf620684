with source as (
    select * from {{ source('segments', '_segment_catalog') }}
),

renamed as (
    select
        segment_key,
        segment_name,
        description,
        owner,
        kind,
        parent_key,
        exclusive_group,
        priority,
        holdout_share,
        definition_text,
        predicate_sql
    from source
)

select * from renamed
