-- Example analyst query: how many champions became at_risk last week
-- (fct_segment_transitions). "Last week" is the latest week in the table, the week
-- holding the as-of day (var as_of_date, default the last day in the data), evaluated as
-- of that day; for the week before, compare with the second latest week. Zero when
-- nobody made the move (the table only has rows for moves someone made).
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_segment_transitions in place of the ref.
with

transitions as (

    select * from {{ ref('fct_segment_transitions') }}

),

final as (

    select coalesce(sum(persons), 0) as champions_became_at_risk
    from transitions
    where
        from_segment = 'champion'
        and to_segment = 'at_risk'
        and week = (select max(latest.week) from transitions as latest)

)

select * from final
