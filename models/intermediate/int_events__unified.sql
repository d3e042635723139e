{#-
    Every event of every source with its person. An event belongs to the person of the
    id it was sent under (int_identity__nodes_resolved). Events of a contested distinct_id
    (an anonymous id identified as two app users) are split by time (SEMANTICS.md): each
    goes to the app user identified on it most recently at or before the event, ordered
    by (timestamp, uuid); events before the first identification go to the first
    identified user; a contested id never identified keeps its own person.
-#}

with

posthog_events as (

    select * from {{ ref('stg_posthog__events') }}

),

app_events as (

    select * from {{ ref('stg_app__events') }}

),

resolved as (

    select * from {{ ref('int_identity__nodes_resolved') }}

),

unioned as (

    select
        event_id,
        'posthog' as source,
        distinct_id,
        event_name,
        occurred_at,
        session_id,
        properties

    from posthog_events

    union all

    select
        'app-' || event_id as event_id,
        'app' as source,
        user_id as distinct_id,
        event_name,
        occurred_at,
        session_id,
        properties

    from app_events

),

with_node as (

    select
        unioned.*,
        resolved.person_id as node_person_id,
        resolved.resolution,
        resolved.anchor_cost

    from unioned
    left join resolved on 'distinct_id:' || unioned.distinct_id = resolved.node_key

),

-- identifications of contested ids: a link event to an id whose app user is one of the
-- tied ones (its path is exactly one link shorter than the contested id's)
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
    where
        contested.resolution = 'contested'
        and other.resolution in ('app_user', 'nearest_app_user')
        and other.anchor_cost + 1 = contested.anchor_cost

),

-- for each event of a contested id: the latest identification at or before it
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
            and (
                with_node.occurred_at > identifications.identified_at
                or (
                    with_node.occurred_at = identifications.identified_at
                    and with_node.event_id >= identifications.identification_id
                )
            )
    where with_node.resolution = 'contested'

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
        coalesce(
            latest_identification.app_user_id,
            first_identification.app_user_id,
            with_node.node_person_id,
            'anon-' || {{ journeys.short_md5("'distinct_id:' || with_node.distinct_id") }}
        ) as person_id,
        with_node.distinct_id,
        with_node.event_name,
        with_node.occurred_at,
        with_node.session_id,
        with_node.properties

    from with_node
    left join latest_identification
        on
            with_node.event_id = latest_identification.event_id
            and latest_identification.recency = 1
    left join first_identification
        on
            with_node.distinct_id = first_identification.contested_id
            and with_node.resolution = 'contested'
            and first_identification.rank_in_time = 1

)

select * from final
