{#-
    One person per human, following SEMANTICS.md (Identity). Nodes are ids of their own
    kind (`distinct_id`, `person_id`, `email`, `hubspot`, `intercom`), written
    `kind:value`. App user ids are anchors; every other node joins the anchor nearest to
    it over paths that do not pass through another anchor, where a path costs
    (person_id links, other links) compared in that order. A node tied between two or
    more anchors is contested and joins none; contested and unreached nodes form persons
    by connected components among themselves.

    Nearest anchors are found by repeated relaxation: pass k knows every node whose best
    path has at most k links, so the passes needed are the longest best path (in links)
    in the graph, a handful in practice (anonymous id, alias chain, email, CRM contact).
    The passes are unrolled (`identity_max_passes`, plus one to prove convergence: a
    test fails if the last pass still changed anything). Each pass reads the previous
    one once, so no engine inlines them into exponential work.
-#}
{%- set passes = var('identity_max_passes') | int -%}
{%- set person_id_link_cost = 1000000 -%}

with

posthog_events as (

    select * from {{ ref('stg_posthog__events') }}

),

users as (

    select * from {{ ref('stg_app__users') }}

),

app_events as (

    select * from {{ ref('stg_app__events') }}

),

person_distinct_ids as (

    select * from {{ ref('stg_posthog__person_distinct_ids') }}

),

hubspot_contacts as (

    select * from {{ ref('stg_hubspot__contacts') }}

),

intercom_contacts as (

    select * from {{ ref('stg_intercom__contacts') }}

),

-- every id an event was sent under is a node, linked or not
sent_under as (

    select distinct_id as node_value from posthog_events
    union all
    select user_id from app_events
    union all
    select user_id from users

),

-- links as sources state them; values are compared exactly, as text
stated_links as {{ journeys.cte_materialized() }} (

    -- $identify: the anonymous id the identified id replaces
    select
        'distinct_id' as kind_a,
        anon_distinct_id as value_a,
        'distinct_id' as kind_b,
        distinct_id as value_b,
        0 as is_person_id_link
    from posthog_events
    where event_name = '$identify'

    union all

    -- $create_alias / $merge_dangerously: the alias and the kept id
    select
        'distinct_id' as kind_a,
        alias_id as value_a,
        'distinct_id' as kind_b,
        distinct_id as value_b,
        0 as is_person_id_link
    from posthog_events
    where event_name in ('$create_alias', '$merge_dangerously')

    union all

    -- PostHog's person at ingestion: the weakest link
    select distinct
        'person_id' as kind_a,
        posthog_person_id as value_a,
        'distinct_id' as kind_b,
        distinct_id as value_b,
        1 as is_person_id_link
    from posthog_events

    union all

    -- PostHog's current person of each distinct_id (persons API), also a weak link
    select
        'person_id' as kind_a,
        posthog_person_id as value_a,
        'distinct_id' as kind_b,
        distinct_id as value_b,
        1 as is_person_id_link
    from person_distinct_ids

    union all

    -- an app user and the email it signed up with
    select
        'distinct_id' as kind_a,
        user_id as value_a,
        'email' as kind_b,
        {{ journeys.normalise_email('email') }} as value_b,
        0 as is_person_id_link
    from users

    union all

    -- a HubSpot contact and its email
    select
        'hubspot' as kind_a,
        hubspot_contact_id as value_a,
        'email' as kind_b,
        {{ journeys.normalise_email('email') }} as value_b,
        0 as is_person_id_link
    from hubspot_contacts

    union all

    -- an Intercom contact and the app user id it was booted with (`external_id`)
    select
        'intercom' as kind_a,
        intercom_contact_id as value_a,
        'distinct_id' as kind_b,
        external_id as value_b,
        0 as is_person_id_link
    from intercom_contacts

    union all

    -- an Intercom contact and its email
    select
        'intercom' as kind_a,
        intercom_contact_id as value_a,
        'email' as kind_b,
        {{ journeys.normalise_email('email') }} as value_b,
        0 as is_person_id_link
    from intercom_contacts

),

-- a link needs two real, different nodes: illegal distinct_ids link nothing
links as {{ journeys.cte_materialized() }} (

    select
        kind_a || ':' || value_a as node_a,
        kind_b || ':' || value_b as node_b,
        is_person_id_link

    from stated_links
    where
        not {{ journeys.is_blank('value_a') }}
        and not {{ journeys.is_blank('value_b') }}
        and not (kind_a = 'distinct_id' and {{ journeys.is_illegal_distinct_id('value_a') }})
        and not (kind_b = 'distinct_id' and {{ journeys.is_illegal_distinct_id('value_b') }})
        and kind_a || ':' || value_a <> kind_b || ':' || value_b

),

nodes as {{ journeys.cte_materialized() }} (

    select distinct
        node_kind,
        node_value,
        node_kind || ':' || node_value as node_key

    from (
        select
            'distinct_id' as node_kind,
            node_value
        from sent_under
        where node_value is not null and node_value <> ''

        union all

        -- every CRM contact is someone, linked or not (a lead who never signed up)
        select
            'hubspot' as node_kind,
            hubspot_contact_id as node_value
        from hubspot_contacts

        union all

        select
            'intercom' as node_kind,
            intercom_contact_id as node_value
        from intercom_contacts

        union all

        select
            kind_a as node_kind,
            value_a as node_value
        from stated_links
        where kind_a || ':' || value_a in (select links.node_a from links)

        union all

        select
            kind_b as node_kind,
            value_b as node_value
        from stated_links
        where kind_b || ':' || value_b in (select links.node_b from links)
    ) as stated

),

anchors as {{ journeys.cte_materialized() }} (

    select nodes.node_key

    from nodes
    inner join users on nodes.node_value = users.user_id
    where nodes.node_kind = 'distinct_id'

),

-- links walked in both directions, never into an anchor (no path passes through one),
-- plus a zero-path_cost stay for every node so each pass carries the previous one forward
steps as {{ journeys.cte_materialized() }} (

    select
        node_a as from_node,
        node_b as to_node,
        case when is_person_id_link = 1 then {{ person_id_link_cost }} else 1 end as path_cost
    from links
    where node_b not in (select anchors.node_key from anchors)

    union all

    select
        node_b as from_node,
        node_a as to_node,
        case when is_person_id_link = 1 then {{ person_id_link_cost }} else 1 end as path_cost
    from links
    where node_a not in (select anchors.node_key from anchors)

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

    from anchors

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
nearest as {{ journeys.cte_materialized() }} (

    select
        last_pass.node_key,
        last_pass.path_cost,
        last_pass.min_anchor,
        last_pass.max_anchor,
        -- the one nearest anchor, null when contested (a plain key keeps the join hashed)
        case
            when last_pass.min_anchor = last_pass.max_anchor then last_pass.min_anchor
        end as anchor_key,
        coalesce(
            previous.path_cost = last_pass.path_cost
            and previous.min_anchor = last_pass.min_anchor
            and previous.max_anchor = last_pass.max_anchor,
            false
        ) as is_converged

    from paths_{{ passes + 1 }} as last_pass
    left join paths_{{ passes }} as previous on last_pass.node_key = previous.node_key

),

unresolved as {{ journeys.cte_materialized() }} (

    select nodes.node_key

    from nodes
    left join nearest on nodes.node_key = nearest.node_key
    where nearest.node_key is null or nearest.min_anchor <> nearest.max_anchor

),

-- contested and unreached nodes: connected components among themselves, labelled by
-- their smallest node (byte order)
component_steps as {{ journeys.cte_materialized() }} (

    select
        node_a as from_node,
        node_b as to_node
    from links
    where
        node_a in (select unresolved.node_key from unresolved)
        and node_b in (select unresolved.node_key from unresolved)

    union all

    select
        node_b as from_node,
        node_a as to_node
    from links
    where
        node_a in (select unresolved.node_key from unresolved)
        and node_b in (select unresolved.node_key from unresolved)

    union all

    select
        node_key as from_node,
        node_key as to_node
    from unresolved

),

labels_0 as (

    select
        node_key,
        node_key as component_label

    from unresolved

),

{% for pass in range(1, passes + 2) %}
    labels_{{ pass }} as (

        select
            component_steps.to_node as node_key,
            min({{ journeys.byte_order('labels.component_label') }}) as component_label

        from labels_{{ pass - 1 }} as labels
        inner join component_steps on labels.node_key = component_steps.from_node
        group by component_steps.to_node

    ),
{% endfor %}

components as (

    select
        last_pass.node_key,
        last_pass.component_label,
        coalesce(previous.component_label = last_pass.component_label, false) as is_converged

    from labels_{{ passes + 1 }} as last_pass
    left join labels_{{ passes }} as previous on last_pass.node_key = previous.node_key

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
            when nodes.node_key in (select anchors.node_key from anchors) then 'app_user'
            when components.node_key is null then 'nearest_app_user'
            when nearest.node_key is not null then 'contested'
            else 'unanchored'
        end as resolution,
        nearest.path_cost as anchor_cost,
        coalesce(nearest.is_converged, true)
        and coalesce(components.is_converged, true) as is_converged

    from nodes
    left join nearest on nodes.node_key = nearest.node_key
    left join components on nodes.node_key = components.node_key
    left join nodes as anchor_nodes on nearest.anchor_key = anchor_nodes.node_key

)

select * from final
