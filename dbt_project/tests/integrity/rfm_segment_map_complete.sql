-- Every scheme of the segment map covers every code of each bin count exactly once, and each code
-- agrees with its scores. Returns the scheme/bin count pairs that don't.
with segment_map as (
    select * from {{ ref('rfm_segment_map') }}
),

coverage as (
    select
        scheme,
        bins,
        count(*) as mapped_codes,
        count(distinct rfm_code) as distinct_codes,
        sum(
            case
                when
                    r_score between 1 and bins
                    and f_score between 1 and bins
                    and m_score between 1 and bins
                    and rfm_code = {{ dbt.concat([
                        dbt.safe_cast('r_score', dbt.type_string()),
                        dbt.safe_cast('f_score', dbt.type_string()),
                        dbt.safe_cast('m_score', dbt.type_string()),
                    ]) }}
                    then 0
                else 1
            end
        ) as inconsistent_codes
    from segment_map
    group by scheme, bins
)

select *
from coverage
where
    mapped_codes != bins * bins * bins
    or distinct_codes != mapped_codes
    or inconsistent_codes > 0
