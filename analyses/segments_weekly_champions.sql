-- Example analyst query: champions and at-risk persons week by week over the last 12
-- weeks (fct_segment_history), each week as of its Sunday (the latest week as of the
-- as-of day).
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_segment_history in place of the ref.
with

history as (

    select * from {{ ref('fct_segment_history') }}

),

last_weeks as (

    select distinct week
    from history
    order by week desc
    limit 12

),

final as (

    select
        history.week,
        count(case when history.segment = 'champion' then 1 end) as champions,
        count(case when history.segment = 'at_risk' then 1 end) as at_risk_persons,
        count(*) as persons

    from history
    inner join last_weeks on history.week = last_weeks.week
    group by history.week

)

select * from final
order by week
