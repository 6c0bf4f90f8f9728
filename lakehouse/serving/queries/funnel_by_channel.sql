-- Question: on each channel, how many sessions reached each step of the funnel, and what share purchased?
select
    channel,
    sum(sessions)::bigint as sessions,
    sum(viewed)::bigint as viewed,
    sum(carted)::bigint as carted,
    sum(checked_out)::bigint as checked_out,
    sum(purchased)::bigint as purchased,
    round(sum(purchased) / sum(sessions), 4) as conversion_rate
from curated.mart_funnel
group by channel
order by channel
