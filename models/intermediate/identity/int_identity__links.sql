{#-
    The identity graph's links (SEMANTICS.md, Identity): one row per distinct link between
    two real, different nodes, as the sources state them. Values are compared exactly,
    as text; emails are normalised; blank values and PostHog's illegal distinct_ids link
    nothing. Person properties (`$set: {email}`) are not links.
-#}

with

posthog_events as (

    select * from {{ ref('stg_posthog__events') }}

),

users as (

    select * from {{ ref('stg_app__users') }}

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

stated_links as (

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

    -- PostHog's person at ingestion: the weakest link (one row per pair)
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

-- every value a link names, once: the checks below cost more than a lookup, so they run
-- per distinct value, never per event
named_values as (

    select
        kind_a as node_kind,
        value_a as node_value
    from stated_links

    union

    select
        kind_b as node_kind,
        value_b as node_value
    from stated_links

),

-- values that can be nodes: not blank, and not one of PostHog's illegal distinct_ids
linkable as {{ journeys.cte_materialized() }} (

    select
        node_kind,
        node_value

    from named_values
    where
        not {{ journeys.is_blank('node_value') }}
        and not (
            node_kind = 'distinct_id' and {{ journeys.is_illegal_distinct_id('node_value') }}
        )

),

-- a link needs two real, different nodes
final as (

    select distinct
        stated_links.kind_a || ':' || stated_links.value_a as node_a,
        stated_links.kind_a,
        stated_links.value_a,
        stated_links.kind_b || ':' || stated_links.value_b as node_b,
        stated_links.kind_b,
        stated_links.value_b,
        stated_links.is_person_id_link

    from stated_links
    inner join linkable as linkable_a
        on
            stated_links.kind_a = linkable_a.node_kind
            and stated_links.value_a = linkable_a.node_value
    inner join linkable as linkable_b
        on
            stated_links.kind_b = linkable_b.node_kind
            and stated_links.value_b = linkable_b.node_value
    where
        stated_links.kind_a || ':' || stated_links.value_a
        <> stated_links.kind_b || ':' || stated_links.value_b

)

select * from final
