{{ config(**incremental_staging_config()) }}
-- depends_on: {{ source('crm', '_landed_files') }}
-- Every raw order row, typed and converted to the reporting currency, with the reason it cannot
-- be staged (null when it can). Of several usable rows with one order_id, the last wins: the row
-- of the file whose name sorts last, the last row within a file. Incremental: see
-- macros/incremental_staging.sql.
{% set plan = staging_restage_plan('orders') %}
{% set raw_columns = staged_raw_columns('orders') %}

with customers as (
    select customer_id from {{ ref('stg_crm__customers') }}
),
{% if not plan['all'] %}
-- Every row of an order_id that came again, or whose customer appeared or went away, is ranked and
-- checked again.
affected_order_ids as (
    {{ new_raw_values(source('crm', 'orders'), plan, 'order_id') }}
    union
    select staged.order_id
    from {{ this }} as staged
    left join customers
        on staged.customer_id = customers.customer_id
    where
        staged.customer_id is not null
        and staged.is_known_customer != (customers.customer_id is not null)
),

restage_keys as (
    {{ staged_rows_with(['order_id'], 'affected_order_ids') }}
),
{% endif %}
source as (
    {{ staging_rows_to_restage(source('crm', 'orders'), plan, 'select * from restage_keys') }}
),

order_status_map as (
    select * from {{ ref('order_status_map') }}
),

currency_rates as (
    select
        currency,
        valid_from,
        lead(valid_from) over (partition by currency order by valid_from) as valid_to,
        rub_per_unit
    from {{ ref('currency_rates') }}
),

known_currencies as (
    select distinct currency from currency_rates
),

cleaned as (
    select
        {{ clean_text('source.order_id') }} as order_id,
        {{ clean_text('source.customer_id') }} as customer_id,
        {{ parse_timestamp('source.ordered_at') }} as ordered_at,
        {{ parse_decimal('source.amount') }} as amount,
        coalesce({{ clean_lower('source.status') }}, 'completed') as status_raw,
        case upper({{ clean_text('source.currency') }})
            -- RUR is the pre-1998 code many Russian systems still export.
            when 'RUR' then 'RUB'
            else coalesce(upper({{ clean_text('source.currency') }}), '{{ var("default_currency") }}')
        end as currency,
        {{ parse_decimal('source.discount_amount') }} as discount_amount,
        {{ clean_lower('source.channel') }} as channel,
        source.amount as amount_text,
        source.discount_amount as discount_amount_text,
        {{ raw_text_columns('source', raw_columns) }},
        source._source_file,
        source._source_row,
        source._load_id
    from source
),

priced as (
    select
        cleaned.*,
        order_status_map.order_status,
        order_rate.rub_per_unit / reporting_rate.rub_per_unit as rate_to_reporting,
        known_currencies.currency is not null as is_known_currency,
        customers.customer_id is not null as is_known_customer
    from cleaned
    left join order_status_map
        on cleaned.status_raw = order_status_map.raw_status
    left join currency_rates as order_rate
        on
            cleaned.currency = order_rate.currency
            and cleaned.ordered_at >= order_rate.valid_from
            and (cleaned.ordered_at < order_rate.valid_to or order_rate.valid_to is null)
    left join currency_rates as reporting_rate
        on
            reporting_rate.currency = '{{ var("reporting_currency") }}'
            and cleaned.ordered_at >= reporting_rate.valid_from
            and (cleaned.ordered_at < reporting_rate.valid_to or reporting_rate.valid_to is null)
    left join known_currencies
        on cleaned.currency = known_currencies.currency
    left join customers
        on cleaned.customer_id = customers.customer_id
),

checked as (
    select
        *,
        {{ first_reason([
            "case when order_id is null then 'missing_order_id' end",
            "case when customer_id is null then 'missing_customer_id' end",
            "case when ordered_at is null then 'invalid_ordered_at' end",
            "case when amount is null then 'invalid_amount' end",
            "case when amount < 0 then 'negative_amount' end",
            "case when order_status is null then 'unknown_status' end",
            "case when not is_known_currency then 'unknown_currency' end",
            "case when rate_to_reporting is null then 'no_exchange_rate' end",
            "case when not is_known_customer then 'unknown_customer' end",
        ]) }} as row_problem
    from priced
),

-- Built before the ranking, so the raw text is not carried through it; a duplicate's raw row is
-- looked up by stg_crm__duplicate_raw_records and shown in audit.quarantined_rows.
recorded as (
    select
        *,
        {{ problem_raw_record(raw_columns) }} as raw_record
    from checked
),

ranked as (
    select
        *,
        row_number() over (
            partition by order_id, row_problem is null
            order by _source_file desc, _source_row desc
        ) as occurrence_rank
    from recorded
),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        cast({{ dbt.date_trunc('day', 'ordered_at') }} as date) as ordered_on,
        order_status,
        order_status = 'completed' as is_completed,
        currency,
        amount,
        discount_amount,
        rate_to_reporting,
        cast(amount * rate_to_reporting as decimal(18, 2)) as amount_reporting,
        cast(discount_amount * rate_to_reporting as decimal(18, 2)) as discount_amount_reporting,
        channel,
        {{ field_issues([
            ["discount_amount is null and discount_amount_text is not null", 'invalid_discount_amount'],
        ]) }} as data_issues,
        coalesce(
            row_problem,
            case when occurrence_rank > 1 then 'duplicate_order_id' end
        ) as quarantine_reason,
        raw_record,
        is_known_customer,
        _source_file,
        _source_row,
        _load_id,
        '{{ staging_version() }}' as _staging_version,
        {{ staging_run_stamp() }} as _staged_in_run
    from ranked
)

select * from final
