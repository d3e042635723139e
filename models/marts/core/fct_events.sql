{#-
    One row per event of every source, with its person and session. An occurrence sent
    from both sides (the app's server event and PostHog's copy of it) is two rows here:
    `is_counted` is false on the PostHog copy (int_events__paired), so counting the rows
    where it is true counts each real occurrence once, the server copy being the truth.
-#}

with

events as (

    select * from {{ ref('int_events__sessionized') }}

),

users as (

    select user_id from {{ ref('stg_app__users') }}

),

paired as (

    select * from {{ ref('int_events__paired') }}

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
        paired.event_id is null as is_counted,
        paired.server_event_id as copy_of_event_id,
        events.properties

    from events
    left join users on events.person_id = users.user_id
    left join paired on events.event_id = paired.event_id

)

select * from final
