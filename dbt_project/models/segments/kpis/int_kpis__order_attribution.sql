{%- set window_days = var('kpi_attribution_window_days') -%}
{%- if window_days is not number or window_days is sameas true
    or window_days < 1 or window_days != window_days | int -%}
    {{ exceptions.raise_compiler_error(
        "var kpi_attribution_window_days must be a whole number of days, at least 1, got '" ~ window_days ~ "'"
    ) }}
{%- endif -%}
-- One row per completed order visible on the as-of date, with the email it is attributed to
-- (null when none). Last touch: among the customer's delivered emails sent before the order and at
-- most var kpi_attribution_window_days days before it (sent_at < ordered_at <= sent_at + window),
-- the latest one wins (ties: the greatest campaign_id). Each order counts for one email at most.
with orders as (
    select * from {{ ref('int_orders__as_of') }}
    where is_completed
),

emails as (
    select * from {{ ref('int_emails') }}
    where is_delivered
),

touches as (
    select
        orders.order_id,
        emails.campaign_id,
        emails.sent_at,
        row_number() over (
            partition by orders.order_id
            order by emails.sent_at desc, emails.campaign_id desc
        ) as touch_rank
    from orders
    inner join emails
        on
            orders.customer_id = emails.customer_id
            and orders.ordered_at > emails.sent_at
            and orders.ordered_at <= {{ dbt.dateadd('day', window_days | int, 'emails.sent_at') }}
),

last_touch as (
    select
        order_id,
        campaign_id,
        sent_at
    from touches
    where touch_rank = 1
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.amount_reporting,
        last_touch.campaign_id as attributed_campaign_id,
        last_touch.sent_at as attributed_email_sent_at
    from orders
    left join last_touch
        on orders.order_id = last_touch.order_id
)

select * from final
