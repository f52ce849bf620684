-- Consistency: dim_customers carries every buyer's RFM row unchanged, and leads have none.
select dim.customer_id
from {{ ref('dim_customers') }} as dim
left join {{ ref('customer_rfm') }} as rfm
    on dim.customer_id = rfm.customer_id
where
    (rfm.customer_id is null and (dim.rfm_code is not null or dim.lifecycle_stage = 'buyer'))
    or (
        rfm.customer_id is not null
        and (
            dim.rfm_code != rfm.rfm_code
            or dim.total_revenue != rfm.monetary
            or dim.lifecycle_stage != 'buyer'
        )
    )
