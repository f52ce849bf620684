-- The inputs of the BG/NBD and Gamma-Gamma models, one row per buyer, in days, exactly as
-- pymc-marketing's rfm_summary(observation_period_end=as-of date, time_unit='D') computes them:
-- frequency = purchase days after the first, recency = first to last purchase day, t = first
-- purchase day to the as-of date, monetary_value = mean amount of the repeat purchase days (0 without).
with purchase_days as (
    select * from {{ ref('int_customer_purchase_days') }}
),

aggregated as (
    select
        customer_id,
        min(purchased_on) as first_purchased_on,
        max(purchased_on) as last_purchased_on,
        count(*) as purchase_days,
        sum(case when purchase_number > 1 then amount_reporting else 0 end) as repeat_amount
    from purchase_days
    group by customer_id
),

final as (
    select
        customer_id,
        first_purchased_on,
        last_purchased_on,
        purchase_days - 1 as frequency,
        {{ dbt.datediff('first_purchased_on', 'last_purchased_on', 'day') }} as recency_days,  -- noqa: LT05
        {{ dbt.datediff('first_purchased_on', as_of_date(), 'day') }} as t_days,  -- noqa: LT05
        case
            when purchase_days > 1 then cast(repeat_amount as double) / (purchase_days - 1)
            else 0
        end as monetary_value
    from aggregated
)

select * from final
