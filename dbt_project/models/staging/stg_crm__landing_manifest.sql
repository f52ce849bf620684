with source as (
    select * from {{ source('crm', '_landing_manifest') }}
),

renamed as (
    select
        table_name,
        source_file,
        cast(row_count as bigint) as raw_rows,
        nullif(missing_columns, '') as missing_columns,
        nullif(ignored_columns, '') as ignored_columns,
        change,
        cast(rows_added as bigint) as rows_added
    from source
)

select * from renamed
