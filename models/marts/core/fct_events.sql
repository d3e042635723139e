with

events as (

    select * from {{ ref('int_events__sessionized') }}

),

users as (

    select user_id from {{ ref('stg_app__users') }}

),

final as (

    select
        events.event_id,
        events.source,
        events.person_id,
        users.user_id as app_user_id,
        events.distinct_id,
        events.event_name,
        events.occurred_at,
        events.session_id,
        events.posthog_session_id,
        events.properties

    from events
    left join users on events.person_id = users.user_id

)

select * from final
