{#-
    Every event of every source with its person. An event belongs to the person of the
    node it was recorded under (int_identity__nodes_resolved): PostHog and app events
    under their distinct_id, CRM touchpoints under their HubSpot or Intercom contact.
    Events of a contested distinct_id (an anonymous id identified as two app users) are
    split by time (SEMANTICS.md): each goes to the app user identified on it most
    recently at or before the event's timestamp (an identification at the event's very
    instant counts, whatever the uuids; identifications at one instant are ordered by
    uuid, the greatest last); events before the first identification go to the first
    identified user; a contested id never identified keeps its own person.
-#}

with

posthog_events as (

    select * from {{ ref('stg_posthog__events') }}

),

app_events as (

    select * from {{ ref('stg_app__events') }}

),

conversations as (

    select * from {{ ref('stg_intercom__conversations') }}

),

conversation_contacts as (

    select * from {{ ref('stg_intercom__conversation_contacts') }}

),

deal_stage_history as (

    select * from {{ ref('stg_hubspot__deal_stage_history') }}

),

deals as (

    select * from {{ ref('stg_hubspot__deals') }}

),

hubspot_associations as (

    select * from {{ ref('stg_hubspot__associations') }}

),

resolved as (

    select * from {{ ref('int_identity__nodes_resolved') }}

),

nearest_anchors as (

    select * from {{ ref('int_identity__nearest_anchors') }}

),

-- an Intercom conversation is a touchpoint of every contact it lists
conversations_opened as (

    select
        'intercom-' || conversations.intercom_conversation_id
        || '-' || conversation_contacts.intercom_contact_id as event_id,
        'intercom' as source,
        'intercom:' || conversation_contacts.intercom_contact_id as node_key,
        conversation_contacts.external_id as distinct_id,
        'conversation_opened' as event_name,
        conversations.created_at as occurred_at,
        {{ journeys.json_object([
            ('conversation_id', 'conversations.intercom_conversation_id'),
            ('contact_id', 'conversation_contacts.intercom_contact_id'),
            ('title', 'conversations.title'),
            ('state', 'conversations.state'),
            ('channel', 'conversations.source_type'),
            ('author_type', 'conversations.source_author_type'),
        ]) }} as properties

    from conversations
    inner join conversation_contacts
        on conversations.intercom_conversation_id = conversation_contacts.intercom_conversation_id

),

-- each entry of a deal's stage history, numbered in time, with the stage it left
stage_changes as (

    select
        hubspot_deal_id,
        deal_stage,
        changed_at,
        source_type,
        lag(deal_stage) over (
            partition by hubspot_deal_id order by changed_at, deal_stage
        ) as previous_deal_stage,
        row_number() over (
            partition by hubspot_deal_id order by changed_at, deal_stage
        ) as change_number

    from deal_stage_history

),

-- a deal's stage change is a touchpoint of every contact associated with the deal
deal_stage_changes as (

    select
        'hubspot-deal-' || stage_changes.hubspot_deal_id
        || '-' || cast(stage_changes.change_number as {{ dbt.type_string() }})
        || '-' || contacts.to_id as event_id,
        'hubspot' as source,
        'hubspot:' || contacts.to_id as node_key,
        cast(null as {{ dbt.type_string() }}) as distinct_id,
        'deal_stage_changed' as event_name,
        stage_changes.changed_at as occurred_at,
        {{ journeys.json_object([
            ('deal_id', 'stage_changes.hubspot_deal_id'),
            ('contact_id', 'contacts.to_id'),
            ('deal_name', 'deals.deal_name'),
            ('pipeline', 'deals.pipeline'),
            ('deal_stage', 'stage_changes.deal_stage'),
            ('previous_deal_stage', 'stage_changes.previous_deal_stage'),
            ('amount', 'deals.amount'),
            ('changed_by', 'stage_changes.source_type'),
        ]) }} as properties

    from stage_changes
    inner join hubspot_associations as contacts
        on
            stage_changes.hubspot_deal_id = contacts.from_id
            and contacts.from_object_type = 'deal'
            and contacts.to_object_type = 'contact'
    left join deals on stage_changes.hubspot_deal_id = deals.hubspot_deal_id

),

touchpoints as (

    select * from conversations_opened
    union all
    select * from deal_stage_changes

),

unioned as (

    select
        event_id,
        'posthog' as source,
        'distinct_id:' || distinct_id as node_key,
        distinct_id,
        event_name,
        occurred_at,
        session_id as posthog_session_id,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        properties

    from posthog_events

    union all

    select
        'app-' || event_id as event_id,
        'app' as source,
        'distinct_id:' || user_id as node_key,
        user_id as distinct_id,
        event_name,
        occurred_at,
        session_id as posthog_session_id,
        cast(null as {{ dbt.type_string() }}) as referring_domain,
        cast(null as {{ dbt.type_string() }}) as utm_source,
        cast(null as {{ dbt.type_string() }}) as utm_medium,
        cast(null as {{ dbt.type_string() }}) as utm_campaign,
        properties

    from app_events

    union all

    select
        event_id,
        source,
        node_key,
        distinct_id,
        event_name,
        occurred_at,
        cast(null as {{ dbt.type_string() }}) as posthog_session_id,
        cast(null as {{ dbt.type_string() }}) as referring_domain,
        cast(null as {{ dbt.type_string() }}) as utm_source,
        cast(null as {{ dbt.type_string() }}) as utm_medium,
        cast(null as {{ dbt.type_string() }}) as utm_campaign,
        properties

    from touchpoints

),

with_node as (

    select
        unioned.*,
        resolved.person_id as node_person_id,
        resolved.resolution,
        resolved.anchor_cost

    from unioned
    left join resolved on unioned.node_key = resolved.node_key

),

-- the id each link event ties to its distinct_id: `$identify`'s anonymous id, or the alias
link_events as (

    select
        event_id,
        occurred_at,
        distinct_id,
        case
            when event_name = '$identify' then anon_distinct_id else alias_id
        end as linked_id

    from posthog_events
    where event_name in ('$identify', '$create_alias', '$merge_dangerously')

),

-- a link identifies either of its ends, so read it both ways
identification_links as (

    select
        event_id,
        occurred_at,
        linked_id as contested_id,
        distinct_id as other_id
    from link_events

    union all

    select
        event_id,
        occurred_at,
        distinct_id as contested_id,
        linked_id as other_id
    from link_events

),

-- identifications of contested ids: a link event to an id that belongs to exactly one
-- app user (the user itself or an id nearest to it alone), that user being one of those
-- tied on the contested id
identifications as (

    select
        links.contested_id,
        links.occurred_at as identified_at,
        links.event_id as identification_id,
        other.person_id as app_user_id

    from identification_links as links
    inner join resolved as contested
        on 'distinct_id:' || links.contested_id = contested.node_key
    inner join resolved as other
        on 'distinct_id:' || links.other_id = other.node_key
    inner join nearest_anchors as tied
        on
            contested.node_key = tied.node_key
            and 'distinct_id:' || other.person_id = tied.anchor_key
    where
        contested.resolution = 'contested'
        and other.resolution in ('app_user', 'nearest_app_user')

),

-- for each event of a contested id: the latest identification at or before it. Only
-- timestamps compare an event with an identification (one at the event's very instant
-- is before it, whatever the uuids); uuids order identifications at one instant, the
-- greatest last
latest_identification as (

    select
        with_node.event_id,
        identifications.app_user_id,
        row_number() over (
            partition by with_node.event_id
            order by identifications.identified_at desc, identifications.identification_id desc
        ) as recency

    from with_node
    inner join identifications
        on
            with_node.distinct_id = identifications.contested_id
            and with_node.occurred_at >= identifications.identified_at
    where with_node.resolution = 'contested' and with_node.source in ('posthog', 'app')

),

first_identification as (

    select
        contested_id,
        app_user_id,
        row_number() over (
            partition by contested_id
            order by identified_at, identification_id
        ) as rank_in_time

    from identifications

),

final as (

    select
        with_node.event_id,
        with_node.source,
        with_node.node_key,
        coalesce(
            latest_identification.app_user_id,
            first_identification.app_user_id,
            with_node.node_person_id,
            'anon-' || {{ journeys.short_md5('with_node.node_key') }}
        ) as person_id,
        with_node.distinct_id,
        with_node.event_name,
        with_node.occurred_at,
        with_node.posthog_session_id,
        with_node.referring_domain,
        with_node.utm_source,
        with_node.utm_medium,
        with_node.utm_campaign,
        cast(with_node.properties as {{ journeys.type_json() }}) as properties

    from with_node
    left join latest_identification
        on
            with_node.event_id = latest_identification.event_id
            and latest_identification.recency = 1
    left join first_identification
        on
            with_node.distinct_id = first_identification.contested_id
            and with_node.resolution = 'contested'
            and with_node.source in ('posthog', 'app')
            and first_identification.rank_in_time = 1

)

select * from final
