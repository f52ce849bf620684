{{ config(schema='intermediate', materialized='table') }}
{%- set windows = outcome_windows() -%}
{%- set longest = windows | max -%}
-- One row per segment entry (int_segment_entries) with what happened in each outcome window (var
-- outcome_windows_days): the window of N days after an entry on day D is the days D+1 … D+N (the
-- member was picked from the data up to the end of day D; a sync contacts them from D+1 on). A
-- window is open until it has fully elapsed for every entry of the entry's week: (entry_week + 6) + N
-- after the as-of date. Every measure of an open window is null, never 0. Definitions of emails,
-- delivery, costs and last-touch attribution: segments/kpis/_kpis__models.yml.
with entries as (
    select * from {{ ref('int_segment_entries') }}
),

orders as (
    select * from {{ ref('int_kpis__order_attribution') }}
),

emails as (
    select * from {{ ref('int_emails') }}
),

email_first_events as (
    select * from {{ ref('int_email_first_events') }}
),

-- The facts of each entry's customer within the longest window, with their day after the entry.
entry_orders as (
    select
        entries.segment_key,
        entries.customer_id,
        entries.entered_on,
        {{ days_after('entries.entered_on', 'orders.ordered_at') }}
            as day_after_entry,
        orders.amount_reporting,
        orders.attributed_campaign_id
    from entries
    inner join orders
        on entries.customer_id = orders.customer_id
    where
        orders.ordered_at >= {{ dbt.dateadd('day', 1, 'entries.entered_on') }}
        and orders.ordered_at < {{ dbt.dateadd('day', longest + 1, 'entries.entered_on') }}
),

entry_emails as (
    select
        entries.segment_key,
        entries.customer_id,
        entries.entered_on,
        {{ days_after('entries.entered_on', 'emails.sent_at') }}
            as day_after_entry,
        emails.is_delivered,
        emails.email_cost
    from entries
    inner join emails
        on entries.customer_id = emails.customer_id
    where
        emails.sent_at >= {{ dbt.dateadd('day', 1, 'entries.entered_on') }}
        and emails.sent_at < {{ dbt.dateadd('day', longest + 1, 'entries.entered_on') }}
),

-- Unsubscribes and complaints: the first such event of an email, when it happened.
opt_outs as (
    select
        customer_id,
        'unsubscribe' as event_type,
        first_unsubscribe_at as occurred_at
    from email_first_events
    where first_unsubscribe_at < {{ as_of_cutoff() }}
    union all
    select
        customer_id,
        'complaint' as event_type,
        first_complaint_at as occurred_at
    from email_first_events
    where first_complaint_at < {{ as_of_cutoff() }}
),

entry_opt_outs as (
    select
        entries.segment_key,
        entries.customer_id,
        entries.entered_on,
        {{ days_after('entries.entered_on', 'opt_outs.occurred_at') }}
            as day_after_entry,
        opt_outs.event_type
    from entries
    inner join opt_outs
        on entries.customer_id = opt_outs.customer_id
    where
        opt_outs.occurred_at >= {{ dbt.dateadd('day', 1, 'entries.entered_on') }}
        and opt_outs.occurred_at < {{ dbt.dateadd('day', longest + 1, 'entries.entered_on') }}
),

order_windows as (
    select
        {%- for window in windows %}
        sum(case when day_after_entry <= {{ window }} then 1 else 0 end) as orders_{{ window }}d,
        sum(case when day_after_entry <= {{ window }} then amount_reporting else 0 end) as revenue_{{ window }}d,
        sum(
            case when day_after_entry <= {{ window }} and attributed_campaign_id is not null then 1 else 0 end
        ) as conversions_{{ window }}d,
        {%- endfor %}
        segment_key,
        customer_id,
        entered_on
    from entry_orders
    group by segment_key, customer_id, entered_on
),

email_windows as (
    select
        {%- for window in windows %}
        sum(case when day_after_entry <= {{ window }} then 1 else 0 end) as emails_sent_{{ window }}d,
        sum(case when day_after_entry <= {{ window }} and is_delivered then 1 else 0 end)
            as emails_delivered_{{ window }}d,
        sum(case when day_after_entry <= {{ window }} and email_cost is null then 1 else 0 end)
            as emails_without_cost_{{ window }}d,
        sum(case when day_after_entry <= {{ window }} then email_cost else 0 end) as email_cost_{{ window }}d,
        {%- endfor %}
        segment_key,
        customer_id,
        entered_on
    from entry_emails
    group by segment_key, customer_id, entered_on
),

opt_out_windows as (
    select
        {%- for window in windows %}
        sum(case when day_after_entry <= {{ window }} and event_type = 'unsubscribe' then 1 else 0 end)
            as unsubscribes_{{ window }}d,
        sum(case when day_after_entry <= {{ window }} and event_type = 'complaint' then 1 else 0 end)
            as complaints_{{ window }}d,
        {%- endfor %}
        segment_key,
        customer_id,
        entered_on
    from entry_opt_outs
    group by segment_key, customer_id, entered_on
),

windowed as (
    select
        entries.segment_key,
        entries.customer_id,
        entries.entered_on,
        entries.exited_on,
        entries.entry_week,
        {%- for window in windows %}
        {{ dbt.dateadd('day', 6 + window, 'entries.entry_week') }} > {{ as_of_date() }} as is_open_{{ window }}d,
        {%- endfor %}
        {%- for window in windows %}
        coalesce(email_windows.emails_sent_{{ window }}d, 0) as emails_sent_{{ window }}d,
        coalesce(email_windows.emails_delivered_{{ window }}d, 0) as emails_delivered_{{ window }}d,
        coalesce(email_windows.emails_without_cost_{{ window }}d, 0) as emails_without_cost_{{ window }}d,
        coalesce(email_windows.email_cost_{{ window }}d, 0) as email_cost_{{ window }}d,
        coalesce(order_windows.orders_{{ window }}d, 0) as orders_{{ window }}d,
        coalesce(order_windows.revenue_{{ window }}d, 0) as revenue_{{ window }}d,
        coalesce(order_windows.conversions_{{ window }}d, 0) as conversions_{{ window }}d,
        coalesce(opt_out_windows.unsubscribes_{{ window }}d, 0) as unsubscribes_{{ window }}d,
        coalesce(opt_out_windows.complaints_{{ window }}d, 0) as complaints_{{ window }}d,
        {%- endfor %}
        entries.member_group
    from entries
    left join order_windows
        on
            entries.segment_key = order_windows.segment_key
            and entries.customer_id = order_windows.customer_id
            and entries.entered_on = order_windows.entered_on
    left join email_windows
        on
            entries.segment_key = email_windows.segment_key
            and entries.customer_id = email_windows.customer_id
            and entries.entered_on = email_windows.entered_on
    left join opt_out_windows
        on
            entries.segment_key = opt_out_windows.segment_key
            and entries.customer_id = opt_out_windows.customer_id
            and entries.entered_on = opt_out_windows.entered_on
),

final as (
    select
        segment_key,
        customer_id,
        entered_on,
        exited_on,
        entry_week,
        {%- for window in windows %}
        is_open_{{ window }}d,
        case when not is_open_{{ window }}d then emails_delivered_{{ window }}d > 0 end as is_contacted_{{ window }}d,
        case when not is_open_{{ window }}d then emails_sent_{{ window }}d end as emails_sent_{{ window }}d,
        case
            when not is_open_{{ window }}d then emails_without_cost_{{ window }}d
        end as emails_without_cost_{{ window }}d,
        case when not is_open_{{ window }}d then email_cost_{{ window }}d end as email_cost_{{ window }}d,
        case when not is_open_{{ window }}d then orders_{{ window }}d end as orders_{{ window }}d,
        case
            when not is_open_{{ window }}d then cast(revenue_{{ window }}d as decimal(18, 2))
        end as revenue_{{ window }}d,
        case when not is_open_{{ window }}d then conversions_{{ window }}d end as conversions_{{ window }}d,
        case when not is_open_{{ window }}d then unsubscribes_{{ window }}d > 0 end as is_unsubscribed_{{ window }}d,
        case when not is_open_{{ window }}d then complaints_{{ window }}d > 0 end as is_complained_{{ window }}d,
        {%- endfor %}
        member_group
    from windowed
)

select * from final
