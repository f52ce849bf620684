{{ config(**incremental_staging_config()) }}
-- depends_on: {{ source('crm', '_landed_files') }}
-- Every raw order line, typed and priced in the reporting currency at its order's rate, with the
-- reason it cannot be staged (null when it can). A line is one product of one order; of several
-- usable rows for one line, the last wins (as in base_crm__orders). Incremental: see
-- macros/incremental_staging.sql.
{% set plan = staging_restage_plan('order_items') %}
{% set raw_columns = staged_raw_columns('order_items') %}

with orders as (
    select
        order_id,
        rate_to_reporting
    from {{ ref('stg_crm__orders') }}
),
{% if not plan['all'] %}
-- Every line of an order_id that came again, or whose order appeared, went away or changed its
-- exchange rate, is checked and ranked again.
affected_order_ids as (
    {{ new_raw_values(source('crm', 'order_items'), plan, 'order_id') }}
    union
    select staged.order_id
    from {{ this }} as staged
    left join orders
        on staged.order_id = orders.order_id
    where
        staged.order_id is not null
        and (
            staged.rate_to_reporting != orders.rate_to_reporting
            or (staged.rate_to_reporting is null) != (orders.rate_to_reporting is null)
        )
),

restage_keys as (
    {{ staged_rows_with(['order_id'], 'affected_order_ids') }}
),
{% endif %}
source as (
    {{ staging_rows_to_restage(source('crm', 'order_items'), plan, 'select * from restage_keys') }}
),

cleaned as (
    select
        {{ clean_text('source.order_id') }} as order_id,
        {{ clean_text('source.product_id') }} as product_id,
        {{ clean_lower('source.category') }} as category,
        {{ parse_decimal('source.quantity') }} as quantity,
        {{ parse_decimal('source.unit_price') }} as unit_price,
        {{ raw_text_columns('source', raw_columns) }},
        source._source_file,
        source._source_row,
        source._load_id
    from source
),

checked as (
    select
        cleaned.*,
        orders.rate_to_reporting,
        {{ first_reason([
            "case when cleaned.order_id is null then 'missing_order_id' end",
            "case when cleaned.product_id is null then 'missing_product_id' end",
            "case when cleaned.quantity is null or cleaned.quantity <= 0 then 'invalid_quantity' end",
            "case when cleaned.unit_price is null or cleaned.unit_price < 0 then 'invalid_unit_price' end",
            "case when orders.order_id is null then 'unknown_order' end",
        ]) }} as row_problem
    from cleaned
    left join orders
        on cleaned.order_id = orders.order_id
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
            partition by order_id, product_id, row_problem is null
            order by _source_file desc, _source_row desc
        ) as occurrence_rank
    from recorded
),

final as (
    select
        order_id,
        product_id,
        category,
        quantity,
        unit_price,
        cast(quantity * unit_price as decimal(18, 2)) as line_amount,
        cast(quantity * unit_price * rate_to_reporting as decimal(18, 2)) as line_amount_reporting,
        coalesce(
            row_problem,
            case when occurrence_rank > 1 then 'duplicate_order_item' end
        ) as quarantine_reason,
        raw_record,
        rate_to_reporting,
        _source_file,
        _source_row,
        _load_id,
        '{{ staging_version() }}' as _staging_version,
        {{ staging_run_stamp() }} as _staged_in_run
    from ranked
)

select * from final
