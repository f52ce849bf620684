-- When a regular buyer's next purchase is due, from their usual interval: one row per buyer with at
-- least var repurchase_min_purchases (3) purchase days (several orders on one day count once).
-- usual_interval_days: the median of the days between consecutive purchase days, rounded to whole
-- days (the median, so one long pause does not stretch the cycle).
-- due_for_repurchase: from var repurchase_due_within_days (2) days before the expected date until
-- one usual interval after it: a coffee buyer on a 30-day cycle is due from day 28 to day 59 after
-- the last purchase, and no longer due once a whole cycle has been missed.
with purchase_days as (
    select * from {{ ref('int_customer_purchase_days') }}
),

intervals as (
    select
        customer_id,
        count(*) as purchase_days,
        max(purchased_on) as last_purchased_on,
        {{ percentile_cont('days_since_previous_purchase', 0.5) }} as median_interval_days
    from purchase_days
    group by customer_id
    having count(*) >= {{ var('repurchase_min_purchases') }}
),

expected as (
    select
        customer_id,
        purchase_days,
        last_purchased_on,
        cast(round(median_interval_days) as integer) as usual_interval_days
    from intervals
),

with_next as (
    select
        *,
        cast({{ dbt.dateadd('day', 'usual_interval_days', 'last_purchased_on') }} as date)
            as next_purchase_expected_on
    from expected
),

with_days_until as (
    select
        *,
        {{ dbt.datediff(as_of_date(), 'next_purchase_expected_on', 'day') }} as days_until_next_purchase  -- noqa: LT05
    from with_next
),

final as (
    select
        customer_id,
        purchase_days,
        last_purchased_on,
        usual_interval_days,
        next_purchase_expected_on,
        days_until_next_purchase,
        days_until_next_purchase <= {{ var('repurchase_due_within_days') }}
        and days_until_next_purchase > -1 * usual_interval_days as due_for_repurchase
    from with_days_until
)

select * from final
