-- int_emails with what each email earned: the completed orders attributed to it (last touch,
-- int_kpis__order_attribution), their revenue, and whether it converted (at least one such order).
with emails as (
    select * from {{ ref('int_emails') }}
),

order_attribution as (
    select * from {{ ref('int_kpis__order_attribution') }}
),

attributed as (
    select
        customer_id,
        attributed_campaign_id as campaign_id,
        count(*) as attributed_orders,
        sum(amount_reporting) as attributed_revenue
    from order_attribution
    where attributed_campaign_id is not null
    group by customer_id, attributed_campaign_id
),

final as (
    select
        emails.*,
        coalesce(attributed.attributed_orders, 0) > 0 as is_converted,
        coalesce(attributed.attributed_orders, 0) as attributed_orders,
        cast(coalesce(attributed.attributed_revenue, 0) as decimal(18, 2)) as attributed_revenue
    from emails
    left join attributed
        on
            emails.customer_id = attributed.customer_id
            and emails.campaign_id = attributed.campaign_id
)

select * from final
