with source as (
    select * from {{ source('segments', '_static_segment_members') }}
),

renamed as (
    select
        segment_key,
        customer_id,
        email,
        source_file,
        source_row
    from source
)

select * from renamed
