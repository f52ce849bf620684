-- Every raw order-status row of the shop's own, with the reason it cannot be staged (null when it
-- can). Of several rows for one spelling, the last wins.
with source as (
    select * from {{ source('crm', 'order_status_map') }}
),

cleaned as (
    select
        {{ clean_lower('source.raw_status') }} as raw_status,
        {{ clean_lower('source.order_status') }} as order_status,
        {{ json_record('source', staged_raw_columns('order_status_map')) }} as raw_record,
        source._source_file,
        source._source_row
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by raw_status
            order by _source_file desc, _source_row desc
        ) as occurrence_rank
    from cleaned
),

final as (
    select
        raw_status,
        order_status,
        {{ first_reason([
            "case when raw_status is null then 'missing_raw_status' end",
            "case when order_status is null or order_status not in ('completed', 'cancelled', 'refunded', 'pending') then 'unknown_order_status' end",
            "case when occurrence_rank > 1 then 'duplicate_raw_status' end",
        ]) }} as quarantine_reason,
        raw_record,
        _source_file,
        _source_row
    from ranked
)

select * from final
