-- Example analyst query: the behaviours of a trial's first week that go with conversion
-- (fct_conversion_drivers), strongest evidence first. Only ranked behaviours (enough
-- persons with and without them); q_value is the false discovery rate across every
-- candidate tested, so "q_value <= 0.05" keeps a list in which at most about 5% are
-- chance findings. lift > 1: more conversions with the behaviour; an association, not
-- proof that the behaviour causes them.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_conversion_drivers in place of the ref.
with

drivers as (

    select * from {{ ref('fct_conversion_drivers') }}

),

final as (

    select
        rank,
        behaviour_event,
        persons_with,
        persons_without,
        cast(100 * rate_with as decimal(4, 1)) as converted_pct_with,
        cast(100 * rate_without as decimal(4, 1)) as converted_pct_without,
        cast(lift as decimal(6, 2)) as lift,
        cast(odds_ratio as decimal(8, 2)) as odds_ratio,
        cast(odds_ratio_ci_low as decimal(8, 2)) as odds_ratio_ci_low,
        cast(odds_ratio_ci_high as decimal(8, 2)) as odds_ratio_ci_high,
        q_value,
        is_significant

    from drivers
    where is_ranked

)

select * from final
order by rank
