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

-- The shop's own statuses (raw folder) win over the bundled map for the same spelling.
shop_statuses as (
    select
        raw_status,
        order_status
    from {{ ref('stg_crm__order_status_map') }}
),

order_status_map as (
    select
        raw_status,
        order_status
    from shop_statuses
    union all
    select
        bundled.raw_status,
        bundled.order_status
    from {{ ref('order_status_map') }} as bundled
    left join shop_statuses
        on bundled.raw_status = shop_statuses.raw_status
    where shop_statuses.raw_status is null
),

-- Rates are step functions from valid_from to the next row; the earliest rate of a currency also
-- covers the dates before it (the order then carries the data issue rate_before_first_known).
shop_rates as (
    select
        currency,
        valid_from,
        {{ rate_validity() }},
        rate_to_reporting
    from {{ ref('stg_crm__currency_rates') }}
),

-- A currency the shop gives rates for takes them from there only.
bundled_rates as (
    select
        bundled.currency,
        bundled.valid_from,
        {{ rate_validity('bundled') }},
        bundled.rub_per_unit
    from {{ ref('currency_rates') }} as bundled
    where bundled.currency not in (select shop_rates.currency from shop_rates)
),

known_currencies as (
    select currency from shop_rates
    union
    select currency from bundled_rates
    union
    select '{{ var("reporting_currency") }}' as currency
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

rate_lookup as (
    select
        cleaned.*,
        order_status_map.order_status,
        shop_rate.valid_from as shop_rate_from,
        shop_rate.rate_to_reporting as shop_rate,
        order_rate.valid_from as order_rate_from,
        order_rate.rub_per_unit as order_rub_per_unit,
        reporting_rate.valid_from as reporting_rate_from,
        reporting_rate.rub_per_unit as reporting_rub_per_unit,
        known_currencies.currency is not null as is_known_currency,
        customers.customer_id is not null as is_known_customer
    from cleaned
    left join order_status_map
        on cleaned.status_raw = order_status_map.raw_status
    left join shop_rates as shop_rate
        on
            cleaned.currency = shop_rate.currency
            and {{ rate_in_force('cleaned.ordered_at', 'shop_rate') }}
    left join bundled_rates as order_rate
        on
            cleaned.currency = order_rate.currency
            and {{ rate_in_force('cleaned.ordered_at', 'order_rate') }}
    left join bundled_rates as reporting_rate
        on
            reporting_rate.currency = '{{ var("reporting_currency") }}'
            and {{ rate_in_force('cleaned.ordered_at', 'reporting_rate') }}
    left join known_currencies
        on cleaned.currency = known_currencies.currency
    left join customers
        on cleaned.customer_id = customers.customer_id
),

-- An order in the reporting currency never needs a rate.
priced as (
    select
        *,
        case
            when currency = '{{ var("reporting_currency") }}' then cast(1 as {{ dbt.type_float() }})
            when shop_rate is not null then cast(shop_rate as {{ dbt.type_float() }})
            else order_rub_per_unit / reporting_rub_per_unit
        end as rate_to_reporting,
        currency != '{{ var("reporting_currency") }}'
        and (
            ordered_at < coalesce(shop_rate_from, order_rate_from)
            or (shop_rate is null and ordered_at < reporting_rate_from)
        ) as is_rate_before_first_known
    from rate_lookup
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
            ["is_rate_before_first_known", 'rate_before_first_known'],
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
