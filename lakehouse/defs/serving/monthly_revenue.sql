-- Question: how many orders, customers and units, and how much net revenue (USD, cancelled orders
-- excluded), did each order currency bring each month, and what share of the month's revenue is that?
select
    order_month as month,
    currency,
    count(distinct order_id) as orders,
    count(distinct customer_id) as customers,
    sum(quantity) as units,
    sum(net_usd) as net_usd,
    sum(net_usd) / sum(sum(net_usd)) over (partition by order_month) as share_of_month
from curated.fact_order_items
where order_status <> 'cancelled'
group by order_month, currency
order by month, currency
