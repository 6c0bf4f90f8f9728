-- Question: how many customers ordered more than once, and what share of lifetime revenue do they bring?
select
    count(*) filter (where frequency > 1) as repeat_customers,
    count(*) as customers,
    sum(lifetime_value_usd) filter (where frequency > 1) as repeat_revenue_usd,
    sum(lifetime_value_usd) as revenue_usd
from curated.mart_customer_rfm
