-- Every raw exchange-rate row of the shop's own, typed, with the reason it cannot be staged (null
-- when it can). Of several rows for one currency and date, the last wins.
with source as (
    select * from {{ source('crm', 'currency_rates') }}
),

cleaned as (
    select
        upper({{ clean_text('source.currency') }}) as currency,
        {{ parse_date('source.valid_from') }} as valid_from,
        {{ dbt.safe_cast(clean_text('source.rate'), 'decimal(18, 6)') }} as rate_to_reporting,
        {{ json_record('source', staged_raw_columns('currency_rates')) }} as raw_record,
        source._source_file,
        source._source_row
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by currency, valid_from
            order by _source_file desc, _source_row desc
        ) as occurrence_rank
    from cleaned
),

final as (
    select
        currency,
        valid_from,
        rate_to_reporting,
        {{ first_reason([
            "case when currency is null then 'missing_currency' end",
            "case when currency = '" ~ var('reporting_currency') ~ "' then 'reporting_currency' end",
            "case when valid_from is null then 'invalid_valid_from' end",
            "case when rate_to_reporting is null or rate_to_reporting <= 0 then 'invalid_rate' end",
            "case when occurrence_rank > 1 then 'duplicate_currency_rate' end",
        ]) }} as quarantine_reason,
        raw_record,
        _source_file,
        _source_row
    from ranked
)

select * from final
