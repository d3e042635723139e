-- Example analyst query: how each weekly signup cohort's trials ended.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.dim_persons in place of the ref.
select
    trial_outcome,
    date_trunc('week', signed_up_at) as signup_week,
    count(*) as persons

from {{ ref('dim_persons') }}
group by 1, 2
order by 2, 1
