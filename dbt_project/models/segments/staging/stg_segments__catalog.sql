with source as (
    select * from {{ ref('segment_definitions') }}
),

renamed as (
    select
        segment_key,
        segment_name,
        -- The compiler writes '' for a missing description or owner; the CSV reads it back as null.
        coalesce(description, '') as description,
        coalesce(owner, '') as owner,  -- noqa: RF04
        kind,
        parent_key,
        exclusive_group,
        priority,
        holdout_share,
        definition_text
    from source
)

select * from renamed
