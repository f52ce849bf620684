{%- set window_days = whole_days_var('kpi_attribution_window_days') -%}
-- One row per completed order visible on the as-of date, with the email it is attributed to
-- (null when none). Last touch: among the customer's delivered emails sent before the order and at
-- most var kpi_attribution_window_days days before it (sent_at < ordered_at <= sent_at + window),
-- the latest one wins (ties: the greatest campaign_id). Each order counts for one email at most.
with orders as (
    select * from {{ ref('int_orders__as_of') }}
    where is_completed
),

-- The customers' emails visible and delivered on the as-of date (as int_emails flags them; that model
-- adds what the emails earned from this one).
emails as (
    select
        email_first_events.customer_id,
        email_first_events.campaign_id,
        {{ email_sent_at('email_first_events', as_of_cutoff()) }} as sent_at
    from {{ ref('int_email_first_events') }} as email_first_events
    where
        email_first_events.first_event_at < {{ as_of_cutoff() }}
        and ({{ email_is_delivered('email_first_events', as_of_cutoff()) }})
),

-- A customer's emails and orders over all history would pair every order with every email. The
-- window cuts time into buckets of window_days days: an email can only win an order of its own
-- bucket or of the next one (ordered_at - sent_at <= window), so each order looks in its bucket and
-- the one before, and each email/order pair meets at most once.
email_windows as (
    select
        customer_id,
        campaign_id,
        sent_at,
        {{ day_bucket('sent_at', window_days) }} as window_bucket
    from emails
),

order_buckets as (
    select
        order_id,
        customer_id,
        ordered_at,
        {{ day_bucket('ordered_at', window_days) }} as window_bucket
    from orders
),

order_windows as (
    select * from order_buckets
    union all
    select
        order_id,
        customer_id,
        ordered_at,
        window_bucket - 1 as window_bucket
    from order_buckets
),

touches as (
    select
        order_windows.order_id,
        email_windows.campaign_id,
        email_windows.sent_at,
        row_number() over (
            partition by order_windows.order_id
            order by email_windows.sent_at desc, email_windows.campaign_id desc
        ) as touch_rank
    from order_windows
    inner join email_windows
        on
            order_windows.customer_id = email_windows.customer_id
            and order_windows.window_bucket = email_windows.window_bucket
            and order_windows.ordered_at > email_windows.sent_at
            and order_windows.ordered_at <= {{ dbt.dateadd('day', window_days, 'email_windows.sent_at') }}
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
