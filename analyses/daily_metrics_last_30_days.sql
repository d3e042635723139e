-- Example analyst query: the last 30 days of the SaaS team's daily numbers
-- (fct_daily_metrics), with a 7-day average of signups and the trial-to-paid conversion
-- of the trials that ended in the 7 days ending on each day (counts summed before
-- dividing, so a day with one trial does not swing it). The last day is still filling up
-- (is_complete false).
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_daily_metrics in place of the ref.
with

metrics as (

    select * from {{ ref('fct_daily_metrics') }}

),

rolling as (

    select
        metric_date,
        signups,
        conversions,
        churns,
        dau,
        wau,
        mau,
        stickiness,
        is_complete,
        avg(signups) over (
            order by metric_date rows between 6 preceding and current row
        ) as signups_7d_avg,
        sum(trials_ended) over (
            order by metric_date rows between 6 preceding and current row
        ) as trials_ended_7d,
        sum(trials_ended_converted) over (
            order by metric_date rows between 6 preceding and current row
        ) as trials_converted_7d

    from metrics

),

final as (

    select
        metric_date,
        signups,
        cast(signups_7d_avg as decimal(8, 1)) as signups_7d_avg,
        conversions,
        churns,
        dau,
        wau,
        mau,
        cast(stickiness as decimal(4, 3)) as stickiness,
        trials_ended_7d,
        case
            when trials_ended_7d > 0
                then cast(1.0 * trials_converted_7d / trials_ended_7d as decimal(4, 3))
        end as trial_conversion_rate_7d,
        is_complete

    from rolling

)

select final.*
from final
where final.metric_date > (select max(metrics.metric_date) from metrics) - 30
order by final.metric_date
