-- The hour to send a customer email, in their own time zone: the local hour at which they opened
-- the most emails in the last var send_hour_window_days (365) days (ties: the hour of the latest
-- open), or var default_send_hour_local (10) without an open. The zone is the customer's
-- `timezone` when the engine knows it, otherwise var default_timezone. One row per customer.
{% set window_start = dbt.dateadd('day', -1 * var('send_hour_window_days'), as_of_cutoff()) %}

with customers as (
    select * from {{ ref('int_customers__as_of') }}
),

email_events as (
    select * from {{ ref('int_email_events__as_of') }}
),

customer_zones as (
    select
        customer_id,
        case
            when {{ is_known_time_zone('timezone') }} then timezone
            else '{{ var("default_timezone") }}'
        end as send_timezone
    from customers
),

opens as (
    select
        customer_zones.customer_id,
        email_events.occurred_at,
        cast(
            extract(hour from {{ utc_to_local('email_events.occurred_at', 'customer_zones.send_timezone') }})
            as integer
        ) as open_hour_local
    from email_events
    inner join customer_zones
        on email_events.customer_id = customer_zones.customer_id
    where
        email_events.event_type = 'open'
        and email_events.occurred_at >= {{ window_start }}
),

hours as (
    select
        customer_id,
        open_hour_local,
        count(*) as opens,
        max(occurred_at) as last_open_at
    from opens
    group by customer_id, open_hour_local
),

ranked as (
    select
        *,
        sum(opens) over (partition by customer_id) as opens_in_window,
        row_number() over (
            partition by customer_id
            order by opens desc, last_open_at desc, open_hour_local asc
        ) as hour_rank
    from hours
),

final as (
    select
        customer_zones.customer_id,
        customer_zones.send_timezone,
        coalesce(ranked.open_hour_local, {{ var('default_send_hour_local') }}) as preferred_send_hour_local,
        case when ranked.customer_id is not null then 'opens' else 'default' end as preferred_send_hour_source,
        coalesce(ranked.opens_in_window, 0) as opens_in_send_hour_window
    from customer_zones
    left join ranked
        on
            customer_zones.customer_id = ranked.customer_id
            and ranked.hour_rank = 1
)

select * from final
