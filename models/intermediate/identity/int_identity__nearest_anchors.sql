{#-
    Each node's nearest app users (SEMANTICS.md, Identity, Persons). App user ids are
    anchors; a node joins the anchor nearest to it over paths that do not pass through
    another anchor, where a path costs (person_id links, other links) compared in that
    order, written as one number: person_id links × 1,000,000 + other links. One row per
    node and nearest anchor: a node with two or more anchors at the least cost is
    contested and has a row for each (the users tied on it, which splitting its events
    by time needs).

    Solved by relaxation (Bellman-Ford on a graph whose costs are all positive): pass k
    knows the best paths of at most k links. A build runs rounds of
    `identity_passes_per_round` passes until a round's last pass changes nothing (the
    fixed_point materialization, macros/materializations/fixed_point.sql): each round
    starts from the rows the previous one found, so an alias chain of any length
    resolves. Each pass reads the previous one once and the links as a table, so no
    engine inlines them into exponential work (Spark inlines every CTE). Nodes that reach
    no anchor have no row.
-#}
{%- set carried_columns = {'node_key': 'text', 'anchor_key': 'text', 'anchor_cost': 'bigint'} -%}
{{ config(materialized='fixed_point', carried_columns=carried_columns) }}
{%- set passes = journeys.identity_passes_per_round() -%}
{%- set person_id_link_cost = 1000000 -%}

with

links as (

    select * from {{ ref('int_identity__links') }}

),

nodes as (

    select * from {{ ref('int_identity__nodes') }}

),

-- what the previous round found (no rows in the first round)
carried as (

    select * from {{ journeys.fixed_point_carry(carried_columns) }}

),

-- every link, read in both directions
directed_links as (

    select
        node_a as from_node,
        node_b as to_node,
        is_person_id_link
    from links

    union all

    select
        node_b as from_node,
        node_a as to_node,
        is_person_id_link
    from links

),

-- the steps a path may take: never into an anchor (no path passes through one), plus a
-- zero-cost stay for every node so each pass carries the previous one forward
steps as {{ journeys.cte_materialized() }} (

    select
        directed_links.from_node,
        directed_links.to_node,
        case
            when directed_links.is_person_id_link = 1 then {{ person_id_link_cost }} else 1
        end as path_cost
    from directed_links
    inner join nodes as to_nodes on directed_links.to_node = to_nodes.node_key
    where not to_nodes.is_anchor

    union all

    select
        node_key as from_node,
        node_key as to_node,
        0 as path_cost
    from nodes

),

-- each anchor is its own nearest anchor; the round goes on from what earlier rounds found
paths_0 as (

    select
        node_key,
        node_key as anchor_key,
        cast(0 as {{ dbt.type_bigint() }}) as path_cost
    from nodes
    where is_anchor

    union all

    select
        node_key,
        anchor_key,
        anchor_cost as path_cost
    from carried

),

{% for pass in range(1, passes + 1) %}
    candidates_{{ pass }} as (

        select
            steps.to_node as node_key,
            paths.anchor_key,
            paths.path_cost + steps.path_cost as path_cost,
            min(paths.path_cost + steps.path_cost) over (partition by steps.to_node) as least_cost

        from paths_{{ pass - 1 }} as paths
        inner join steps on paths.node_key = steps.from_node

    ),

    -- every anchor at the least cost, once
    paths_{{ pass }} as (

        select distinct
            node_key,
            anchor_key,
            path_cost

        from candidates_{{ pass }}
        where path_cost = least_cost

    ),
{% endfor %}

-- per node, the least cost and how many anchors share it, after the last pass and the one
-- before: equal means the last pass changed nothing for that node
last_pass_summary as (

    select
        node_key,
        min(path_cost) as path_cost,
        count(distinct anchor_key) as anchors
    from paths_{{ passes }}
    group by node_key

),

previous_pass_summary as (

    select
        node_key,
        min(path_cost) as path_cost,
        count(distinct anchor_key) as anchors
    from paths_{{ passes - 1 }}
    group by node_key

),

final as (

    select
        last_pass.node_key,
        last_pass.anchor_key,
        last_pass.path_cost as anchor_cost,
        last_pass_summary.anchors > 1 as is_contested,
        coalesce(
            previous_pass_summary.path_cost = last_pass_summary.path_cost
            and previous_pass_summary.anchors = last_pass_summary.anchors,
            false
        ) as is_converged

    from paths_{{ passes }} as last_pass
    inner join last_pass_summary on last_pass.node_key = last_pass_summary.node_key
    left join previous_pass_summary
        on last_pass.node_key = previous_pass_summary.node_key

)

select * from final
