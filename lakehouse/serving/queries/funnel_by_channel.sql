-- Question: on each channel, how many sessions reached each step of the funnel, and what share purchased?
select
    channel,
    sum(sessions) as sessions,
    sum(viewed) as viewed,
    sum(carted) as carted,
    sum(checked_out) as checked_out,
    sum(purchased) as purchased,
    round(sum(purchased) / sum(sessions), 4) as conversion_rate
from curated.mart_funnel
group by channel
order by channel
