{#-
    One row per session of int_events__sessionized (SEMANTICS.md, Sessions): its first
    and last event, how long it lasted, its events counted once each (a PostHog copy of
    an app event is not counted again), where it entered and left, and its first touch.
-#}

with

events as (

    select * from {{ ref('int_events__sessionized') }}

),

-- read again, not through `events`: an engine may materialise a CTE read twice, and only
-- the properties of each session's first event are needed
event_properties as (

    select
        event_id,
        properties

    from {{ ref('int_events__sessionized') }}

),

-- PostHog copies of app events (sent from both sides): in their session, not counted
paired as (

    select event_id from {{ ref('int_events__paired') }}

),

-- an event is a touch when it carries a referring domain or any utm value; it counts
-- unless it is a PostHog copy of an app event (fct_events.is_counted)
flagged as (

    select
        events.*,
        case
            when
                coalesce(events.referring_domain, '') <> ''
                or coalesce(events.utm_source, '') <> ''
                or coalesce(events.utm_medium, '') <> ''
                or coalesce(events.utm_campaign, '') <> ''
                then 1
            else 0
        end as is_touch,
        case when paired.event_id is null then 1 else 0 end as is_counted

    from events
    left join paired on events.event_id = paired.event_id

),

-- one window pass per session in (occurred_at, event_id) order: each event's position,
-- how many touches came up to it (the session's first touch is the touch where this is
-- 1), and the session's last event. The wide properties stay out of the sort
ordered as (

    select
        session_id,
        person_id,
        session_kind,
        posthog_session_id,
        event_id,
        event_name,
        occurred_at,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        is_touch,
        is_counted,
        row_number() over (
            partition by session_id
            order by occurred_at, {{ journeys.byte_order('event_id') }}
        ) as session_position,
        sum(is_touch) over (
            partition by session_id
            order by occurred_at, {{ journeys.byte_order('event_id') }}
            rows between unbounded preceding and current row
        ) as touches_so_far,
        last_value(event_name) over (
            partition by session_id
            order by occurred_at, {{ journeys.byte_order('event_id') }}
            rows between unbounded preceding and unbounded following
        ) as exit_event_name

    from flagged

),

-- the first touch's fields come as one set from that single event, so they never mix
-- two events (the rule SEMANTICS.md gives for a person's first touch)
sessions as (

    select
        session_id,
        person_id,
        session_kind,
        max(
            case when session_kind = 'posthog' then posthog_session_id end
        ) as posthog_session_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(case when is_counted = 1 then 1 end) as events,
        max(case when session_position = 1 then event_id end) as entry_event_id,
        max(case when session_position = 1 then event_name end) as entry_event_name,
        max(exit_event_name) as exit_event_name,
        max(
            case when is_touch = 1 and touches_so_far = 1 then referring_domain end
        ) as referring_domain,
        max(case when is_touch = 1 and touches_so_far = 1 then utm_source end) as utm_source,
        max(case when is_touch = 1 and touches_so_far = 1 then utm_medium end) as utm_medium,
        max(
            case when is_touch = 1 and touches_so_far = 1 then utm_campaign end
        ) as utm_campaign

    from ordered
    group by session_id, person_id, session_kind

),

-- the entry page: `$pathname` of each session's first event, looked up by its event_id
-- (unique), so JSON is parsed once per session rather than once per event
final as (

    select
        sessions.session_id,
        sessions.person_id,
        sessions.posthog_session_id,
        sessions.session_kind,
        sessions.started_at,
        sessions.ended_at,
        {{ journeys.seconds_between('sessions.started_at', 'sessions.ended_at') }}
            as duration_seconds,
        sessions.events,
        sessions.entry_event_name,
        sessions.exit_event_name,
        {{ journeys.json_text('entry_event.properties', '$pathname') }} as entry_pathname,
        sessions.referring_domain,
        sessions.utm_source,
        sessions.utm_medium,
        sessions.utm_campaign

    from sessions
    left join event_properties as entry_event
        on sessions.entry_event_id = entry_event.event_id

)

select * from final
