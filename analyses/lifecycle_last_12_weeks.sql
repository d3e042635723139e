-- Example analyst query: the lifecycle of the last 12 weeks (fct_lifecycle), one row per
-- week as PostHog's lifecycle chart shows it (dormant negative), with the net change of
-- the active base (new + resurrecting - dormant) and the share of last week's active
-- persons who came back. The week holding the data's end is flagged (is_complete false).
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_lifecycle in place of the ref.
with

lifecycle as (

    select * from {{ ref('fct_lifecycle') }}

),

by_week as (

    select
        week_start,
        sum(case when status = 'new' then persons else 0 end) as new_persons,
        sum(case when status = 'returning' then persons else 0 end) as returning_persons,
        sum(case when status = 'resurrecting' then persons else 0 end) as resurrecting_persons,
        sum(case when status = 'dormant' then chart_persons else 0 end) as dormant_persons,
        min(case when is_complete then 1 else 0 end) = 1 as is_complete

    from lifecycle
    group by week_start

),

last_weeks as (

    select *
    from by_week
    order by week_start desc
    limit 12

),

final as (

    select
        week_start,
        new_persons,
        returning_persons,
        resurrecting_persons,
        dormant_persons,
        new_persons + resurrecting_persons + dormant_persons as net_change,
        -- last week's active persons were either returning or dormant this week
        cast(returning_persons as double precision)
        / nullif(returning_persons - dormant_persons, 0) as came_back_rate,
        is_complete

    from last_weeks

)

select * from final
order by week_start
