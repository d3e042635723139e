-- Example analyst query: what did churners do last (fct_journey_paths_before)? The ten
-- most common paths of last steps before churn, with their share of churners, beside the
-- share of converters whose last steps were the same.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_journey_paths_before in place of the ref.
with

paths_before as (

    select * from {{ ref('fct_journey_paths_before') }}

),

churned as (

    select
        path,
        path_rank,
        persons,
        share_of_outcome

    from paths_before
    where outcome = 'churned' and path_rank <= 10

),

converted as (

    select
        path,
        share_of_outcome

    from paths_before
    where outcome = 'converted'

),

final as (

    select
        churned.path_rank,
        churned.path,
        churned.persons as churned_persons,
        cast(100 * churned.share_of_outcome as decimal(4, 1)) as pct_of_churners,
        cast(100 * coalesce(converted.share_of_outcome, 0) as decimal(4, 1))
            as pct_of_converters_in_top_paths

    from churned
    left join converted on churned.path = converted.path

)

select * from final
order by path_rank
