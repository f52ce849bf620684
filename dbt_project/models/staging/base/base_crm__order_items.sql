{{ config(**incremental_staging_config()) }}
-- depends_on: {{ source('crm', '_landed_files') }}
-- depends_on: {{ ref('base_crm__orders') }}
-- Every raw order line, typed and priced in the reporting currency at its order's rate, with the
-- reason it cannot be staged (null when it can). A line is one product of one order; of several
-- usable rows for one line, the last wins (as in base_crm__orders). Incremental: see
-- macros/incremental_staging.sql.
{% set plan = staging_restage_plan('order_items') %}
{% set raw_columns = staged_raw_columns('order_items') %}

with
{%- if not plan['all'] %}
affected_order_ids as (
    -- Every line of an order_id that came again is ranked again.
    {{ new_raw_values(source('crm', 'order_items'), plan, 'order_id') }}
    union
    -- An order restaged since this model's last run may have appeared, gone away or changed its
    -- exchange rate: its lines are checked and priced again. Orders restage every row whose verdict
    -- or rate can change (a new customer export, a changed rates seed), so no other order needs it.
    select staged_order.order_id
    from {{ ref('base_crm__orders') }} as staged_order
    where
        staged_order.order_id is not null
        and staged_order._staged_in_run > (select max(staged._staged_in_run) from {{ this }} as staged)
),

restage_keys as (
    {{ staged_rows_with(['order_id'], 'affected_order_ids') }}
),
{%- endif %}

-- An incremental run restages only lines of affected orders, so only those orders are looked up.
orders as (
    select
        stg_order.order_id,
        stg_order.rate_to_reporting
    from {{ ref('stg_crm__orders') }} as stg_order
    {%- if not plan['all'] %}
    inner join affected_order_ids
        on stg_order.order_id = affected_order_ids.order_id
    {%- endif %}
),

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
