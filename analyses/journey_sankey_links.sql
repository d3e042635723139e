-- Example analyst query: the Sankey of converters' first steps after signup
-- (fct_journey_edges) as links a charting library takes (source, target, value): a node
-- is a step number and an event, so `3: file_uploaded` and `4: file_uploaded` are two
-- columns of the diagram. Links carried by fewer than 3 persons are left out.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_journey_edges in place of the ref.
with

edges as (

    select * from {{ ref('fct_journey_edges') }}

),

final as (

    select
        cast(step_number as varchar) || ': ' || from_event as source_node,
        cast(step_number + 1 as varchar) || ': ' || to_event as target_node,
        persons as link_value

    from edges
    where outcome = 'converted' and persons >= 3

)

select * from final
order by source_node asc, link_value desc
