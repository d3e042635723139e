with

posthog_events as (

    select * from {{ ref('stg_posthog__events') }}

),

app_events as (

    select * from {{ ref('stg_app__events') }}

),

user_map as (

    select * from {{ ref('int_distinct_ids__mapped_to_users') }}

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

-- persons: the app user when the id maps to one, else a person of that id alone
final as (

    select
        unioned.event_id,
        unioned.source,
        coalesce(
            user_map.user_id,
            'anon-' || {{ journeys.short_md5("'distinct_id:' || unioned.distinct_id") }}
        ) as person_id,
        user_map.user_id as app_user_id,
        unioned.distinct_id,
        unioned.event_name,
        unioned.occurred_at,
        unioned.session_id,
        unioned.properties

    from unioned
    left join user_map on unioned.distinct_id = user_map.distinct_id

)

select * from final
