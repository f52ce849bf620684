-- Static list rows matched to customers known on the as-of date, by customer_id or else by email.
-- Rows that match nobody stay here with is_matched = false (audit.unmatched_static_list_rows).
with list_rows as (
    select * from {{ ref('stg_segments__static_members') }}
),

customers as (
    select
        customer_id,
        email
    from {{ ref('int_customers__as_of') }}
),

matched as (
    select
        list_rows.segment_key,
        list_rows.source_file,
        list_rows.source_row,
        list_rows.customer_id as listed_customer_id,
        list_rows.email as listed_email,
        coalesce(by_id.customer_id, by_email.customer_id) as customer_id
    from list_rows
    left join customers as by_id
        on list_rows.customer_id = by_id.customer_id
    left join customers as by_email
        on
            list_rows.customer_id is null
            and list_rows.email = by_email.email
)

select
    *,
    customer_id is not null as is_matched
from matched
