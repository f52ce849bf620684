-- Every customer matching each segment's compiled predicate, before exclusive groups apply.
-- The predicates come from raw._segment_catalog, written by orchestration/segments, which checks
-- every field name against this base and renders every value as a typed, escaped literal.
-- depends_on: {{ ref('stg_segments__catalog') }}
{%- set segments = [] -%}
{#- The catalogue relation is missing only when nothing was built yet (sqlfluff's compile, say). -#}
{%- if execute and load_relation(ref('stg_segments__catalog')) is not none -%}
    {%- set catalog = run_query(
        "select segment_key, predicate_sql from " ~ ref('stg_segments__catalog') ~ " order by segment_key"
    ) -%}
    {%- for row in catalog.rows -%}
        {%- if not modules.re.fullmatch('[a-z][a-z0-9_]{0,62}', row[0]) -%}
            {{ exceptions.raise_compiler_error("segment key '" ~ row[0] ~ "' in the catalogue is not lower_snake_case") }}
        {%- endif -%}
        {%- do segments.append({'key': row[0], 'predicate': row[1]}) -%}
    {%- endfor -%}
{%- endif %}

with base as (
    select * from {{ ref('int_segment_customer_base') }}
),

-- Used by the predicates of static segments (and unused when there are none).
static_members as (  -- noqa: ST03
    select
        segment_key,
        customer_id
    from {{ ref('int_static_segment_members') }}
    where is_matched
),

matches as (
    {% for segment in segments %}
    select
        '{{ segment.key }}' as segment_key,
        base.customer_id
    from base
    where {{ segment.predicate }}
    union all
    {% endfor %}
    -- keeps the union valid when the catalogue is empty
    select
        cast(null as {{ dbt.type_string() }}) as segment_key,
        cast(null as {{ dbt.type_string() }}) as customer_id
    from base
    where 1 = 0
)

select distinct
    segment_key,
    customer_id
from matches
