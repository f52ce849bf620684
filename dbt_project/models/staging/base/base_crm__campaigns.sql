-- Every raw campaign row, typed, with the reason it cannot be staged (null when it can).
with source as (
    select * from {{ source('crm', 'campaigns') }}
),

cleaned as (
    select
        {{ clean_text('source.campaign_id') }} as campaign_id,
        {{ clean_text('source.name') }} as campaign_name,
        {{ clean_lower('source.channel') }} as channel,
        {{ parse_timestamp('source.sent_at') }} as sent_at,
        {{ parse_decimal('source.cost') }} as cost,
        source.sent_at as sent_at_text,
        source.cost as cost_text,
        {{ json_record('source', staged_raw_columns('campaigns')) }} as raw_record,
        source._source_file,
        source._source_row
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by campaign_id
            order by _source_file desc, _source_row desc
        ) as occurrence_rank
    from cleaned
),

final as (
    select
        campaign_id,
        campaign_name,
        channel,
        sent_at,
        cost,
        {{ field_issues([
            ["sent_at is null and sent_at_text is not null", 'invalid_sent_at'],
            ["(cost is null and cost_text is not null) or cost < 0", 'invalid_cost'],
        ]) }} as data_issues,
        {{ first_reason([
            "case when campaign_id is null then 'missing_campaign_id' end",
            "case when occurrence_rank > 1 then 'duplicate_campaign_id' end",
        ]) }} as quarantine_reason,
        raw_record,
        _source_file,
        _source_row
    from ranked
)

select * from final
