-- Example analyst query: which paths after signup convert best (fct_journey_paths)?
-- conversion_rate is the path's across outcomes (converted among the persons on it whose
-- trial has ended), so each path is read once, from any outcome's row; paths at least 10
-- persons took, best first.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_journey_paths in place of the ref.
with

paths as (

    select * from {{ ref('fct_journey_paths') }}

),

-- one row per path: its persons over every outcome, and its conversion rate
by_path as (

    select
        path,
        sum(persons) as persons,
        max(conversion_rate) as conversion_rate

    from paths
    group by path

),

final as (

    select
        path,
        persons,
        cast(100 * conversion_rate as decimal(4, 1)) as conversion_pct

    from by_path
    where persons >= 10 and conversion_rate is not null

)

select * from final
order by conversion_pct desc, persons desc
