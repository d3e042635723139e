{#-
    One person per human, following SEMANTICS.md (Identity): every node with the person
    it belongs to. A node with one nearest app user (int_identity__nearest_anchors) is
    that user. Contested nodes (tied between app users) and nodes that reach no app user
    form persons by connected components among themselves, labelled by their smallest
    node in byte order and named `anon-` + the first 16 hex digits of md5 of it.

    Components come from min-label propagation: a component needs as many passes as its
    diameter in links. Like the relaxation, a build runs rounds of
    `identity_passes_per_round` passes until a round's last pass changes nothing (the
    fixed_point materialization, macros/materializations/fixed_point.sql), each round
    starting from the labels the previous one found, so a component of any diameter
    resolves.
-#}
{%- set carried_columns = {'node_key': 'text', 'component_label': 'text'} -%}
{{ config(materialized='fixed_point', carried_columns=carried_columns) }}
{%- set passes = journeys.identity_passes_per_round() -%}

with

nodes as (

    select * from {{ ref('int_identity__nodes') }}

),

links as (

    select * from {{ ref('int_identity__links') }}

),

nearest_anchors as (

    select * from {{ ref('int_identity__nearest_anchors') }}

),

-- what the previous round found (no rows in the first round)
carried as (

    select * from {{ journeys.fixed_point_carry(carried_columns) }}

),

-- one row per node that reaches an app user: its least cost and how many app users share
-- it (the one nearest app user when only one does)
nearest as (

    select
        node_key,
        min(anchor_cost) as anchor_cost,
        count(*) as nearest_anchors,
        min(anchor_key) as anchor_key
    from nearest_anchors
    group by node_key

),

unresolved as {{ journeys.cte_materialized() }} (

    select nodes.node_key

    from nodes
    left join nearest on nodes.node_key = nearest.node_key
    where nearest.node_key is null or nearest.nearest_anchors > 1

),

-- links among contested and unreached nodes
unresolved_links as (

    select
        links.node_a,
        links.node_b

    from links
    inner join unresolved as unresolved_a on links.node_a = unresolved_a.node_key
    inner join unresolved as unresolved_b on links.node_b = unresolved_b.node_key

),

-- those links read both ways, plus a stay for every such node
component_steps as {{ journeys.cte_materialized() }} (

    select
        node_a as from_node,
        node_b as to_node
    from unresolved_links

    union all

    select
        node_b as from_node,
        node_a as to_node
    from unresolved_links

    union all

    select
        node_key as from_node,
        node_key as to_node
    from unresolved

),

-- every such node starts as its own label; the round goes on from earlier rounds' labels
labels_0 as (

    select
        node_key,
        node_key as component_label
    from unresolved

    union all

    select
        node_key,
        component_label
    from carried
    where component_label is not null

),

{% for pass in range(1, passes + 1) %}
    labels_{{ pass }} as (

        select
            component_steps.to_node as node_key,
            min({{ journeys.byte_order('labels.component_label') }}) as component_label

        from labels_{{ pass - 1 }} as labels
        inner join component_steps on labels.node_key = component_steps.from_node
        group by component_steps.to_node

    ),
{% endfor %}

-- the last pass changed nothing for a node that kept its label
components as (

    select
        last_pass.node_key,
        last_pass.component_label,
        coalesce(previous.component_label = last_pass.component_label, false) as is_converged

    from labels_{{ passes }} as last_pass
    left join labels_{{ passes - 1 }} as previous on last_pass.node_key = previous.node_key

),

final as (

    select
        nodes.node_key,
        nodes.node_kind,
        nodes.node_value,
        case
            when components.node_key is null then anchor_nodes.node_value
            else 'anon-' || {{ journeys.short_md5('components.component_label') }}
        end as person_id,
        case
            when nodes.is_anchor then 'app_user'
            when components.node_key is null then 'nearest_app_user'
            when nearest.node_key is not null then 'contested'
            else 'unanchored'
        end as resolution,
        nearest.anchor_cost,
        components.component_label,
        coalesce(components.is_converged, true) as is_converged

    from nodes
    left join nearest on nodes.node_key = nearest.node_key
    left join components on nodes.node_key = components.node_key
    left join nodes as anchor_nodes on nearest.anchor_key = anchor_nodes.node_key

)

select * from final
