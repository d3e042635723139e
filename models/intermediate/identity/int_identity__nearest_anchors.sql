{#-
    Each node's nearest app user (SEMANTICS.md, Identity, Persons). App user ids are
    anchors; a node joins the anchor nearest to it over paths that do not pass through
    another anchor, where a path costs (person_id links, other links) compared in that
    order, written as one number: person_id links × 1,000,000 + other links. A node with
    two or more anchors at the least cost is contested (min_anchor <> max_anchor).

    Solved by relaxation (Bellman-Ford on a graph whose costs are all positive): pass k
    knows the best paths of at most k links, so the passes needed are the longest best
    path in links, a handful in practice (anonymous id, alias chain, email, CRM contact).
    It terminates: the passes are unrolled, `identity_max_passes` plus one that proves
    convergence (`is_converged`, tested: it fails the build's tests if the last pass
    still changed anything). Each pass reads the previous one once and the links as a
    table, so no engine inlines them into exponential work (Spark inlines every CTE).
    Nodes that reach no anchor have no row here.
-#}
{%- set passes = var('identity_max_passes') | int -%}
{%- set person_id_link_cost = 1000000 -%}

with

links as (

    select * from {{ ref('int_identity__links') }}

),

nodes as (

    select * from {{ ref('int_identity__nodes') }}

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

-- each anchor is its own nearest anchor; min/max anchor at the least path_cost tell a node
-- with one nearest anchor (min = max) from a contested one
paths_0 as (

    select
        node_key,
        0 as path_cost,
        node_key as min_anchor,
        node_key as max_anchor

    from nodes
    where is_anchor

),

{% for pass in range(1, passes + 2) %}
    candidates_{{ pass }} as (

        select
            steps.to_node as node_key,
            paths.path_cost + steps.path_cost as path_cost,
            paths.min_anchor,
            paths.max_anchor,
            min(paths.path_cost + steps.path_cost) over (partition by steps.to_node) as least_cost

        from paths_{{ pass - 1 }} as paths
        inner join steps on paths.node_key = steps.from_node

    ),

    paths_{{ pass }} as (

        select
            node_key,
            path_cost,
            min({{ journeys.byte_order('min_anchor') }}) as min_anchor,
            max({{ journeys.byte_order('max_anchor') }}) as max_anchor

        from candidates_{{ pass }}
        where path_cost = least_cost
        group by node_key, path_cost

    ),
{% endfor %}

-- the extra pass changed nothing if every node kept its path_cost and anchors
final as (

    select
        last_pass.node_key,
        last_pass.path_cost as anchor_cost,
        last_pass.min_anchor,
        last_pass.max_anchor,
        -- the one nearest anchor, null when contested (a plain key keeps joins hashed)
        case
            when last_pass.min_anchor = last_pass.max_anchor then last_pass.min_anchor
        end as anchor_key,
        last_pass.min_anchor <> last_pass.max_anchor as is_contested,
        coalesce(
            previous.path_cost = last_pass.path_cost
            and previous.min_anchor = last_pass.min_anchor
            and previous.max_anchor = last_pass.max_anchor,
            false
        ) as is_converged

    from paths_{{ passes + 1 }} as last_pass
    left join paths_{{ passes }} as previous on last_pass.node_key = previous.node_key

)

select * from final
