-- Question: how many orders, units and how much net revenue (USD, cancelled orders excluded) did each month bring?
select
    date_trunc('month', order_date)::date as month,
    count(distinct order_id) as orders,
    sum(quantity) as units,
    sum(net_usd) as net_usd
from curated.fact_order_items
where order_status <> 'cancelled'
group by month
order by month
