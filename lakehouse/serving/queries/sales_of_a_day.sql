-- Question: on a given day ($day, e.g. --param day=2025-03-01), how much did each currency sell, in USD?
select
    currency,
    count(distinct order_id) as orders,
    sum(net_usd) as net_usd
from curated.fact_order_items
where order_date = $day and order_status <> 'cancelled'
group by currency
order by currency
