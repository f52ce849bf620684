{{ config(schema='audit') }}
-- Rows of uploaded static lists that match no customer known on the as-of date: nothing a marketer
-- uploads disappears without a trace.
select
    segment_key,
    source_file,
    source_row,
    listed_customer_id,
    listed_email,
    case
        when listed_customer_id is null and listed_email is null then 'empty_row'
        when listed_customer_id is not null then 'unknown_customer'
        else 'unknown_email'
    end as reason
from {{ ref('int_static_segment_members') }}
where not is_matched
