with source as (
    select * from {{ ref('static_segment_list_rows') }}
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
