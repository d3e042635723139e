-- Example analyst query: the retention curve of the 8 latest weekly signup cohorts
-- (fct_cohort_retention): per cohort and week since signup, the share of the cohort with
-- a product event that calendar week. A week not fully elapsed at the data's end is
-- flagged (is_complete false): its rate can still grow.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_cohort_retention in place of the ref.
with

retention as (

    select * from {{ ref('fct_cohort_retention') }}

),

-- the 8 latest cohorts (every cohort has its week 0 row)
last_cohorts as (

    select cohort_week
    from retention
    where weeks_since_signup = 0
    order by cohort_week desc
    limit 8

),

final as (

    select
        retention.cohort_week,
        retention.cohort_size,
        retention.weeks_since_signup,
        retention.retained_persons,
        cast(100 * retention.retention_rate as decimal(4, 1)) as retention_pct,
        retention.is_complete

    from retention
    inner join last_cohorts on retention.cohort_week = last_cohorts.cohort_week

)

select * from final
order by cohort_week, weeks_since_signup
