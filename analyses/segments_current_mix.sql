-- Example analyst query: the segment mix as of the as-of day (dim_person_segments):
-- persons per segment, their share, and how recently they were active on average.
-- Rebuild with `journeys build -- --vars '{as_of_date: 2026-03-31}'` for another day.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.dim_person_segments in place of the ref.
with

segments as (

    select * from {{ ref('dim_person_segments') }}

),

final as (

    select
        as_of_date,
        segment,
        count(*) as persons,
        cast(count(*) as {{ journeys.type_double() }}) / sum(count(*)) over () as share_of_persons,
        avg(days_since_active) as avg_days_since_active,
        avg(events_last_30d) as avg_events_last_30d

    from segments
    group by as_of_date, segment

)

select * from final
order by persons desc
