{#-
    The identity graph's nodes (SEMANTICS.md, Identity): every id an event was sent under,
    every CRM contact (linked or not: a lead who never signed up is someone), and both ends
    of every link. Each node is an id of one kind, written `kind:value`; app user ids are
    the anchors.
-#}

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

hubspot_contacts as (

    select * from {{ ref('stg_hubspot__contacts') }}

),

intercom_contacts as (

    select * from {{ ref('stg_intercom__contacts') }}

),

links as (

    select * from {{ ref('int_identity__links') }}

),

-- every id an event was sent under is a node, linked or not (an illegal id too: its
-- events stay together as one person of that exact string)
sent_under as (

    select distinct_id as node_value from posthog_events
    union all
    select user_id from app_events
    union all
    select user_id from users

),

stated as (

    select
        'distinct_id' as node_kind,
        node_value
    from sent_under
    where node_value is not null and node_value <> ''

    union all

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
    from links

    union all

    select
        kind_b as node_kind,
        value_b as node_value
    from links

),

anchors as (

    select distinct user_id from users

),

nodes as (

    select distinct
        node_kind || ':' || node_value as node_key,
        node_kind,
        node_value

    from stated

),

final as (

    select
        nodes.node_key,
        nodes.node_kind,
        nodes.node_value,
        coalesce(
            nodes.node_kind = 'distinct_id' and anchors.user_id is not null, false
        ) as is_anchor

    from nodes
    left join anchors on nodes.node_value = anchors.user_id

)

select * from final
