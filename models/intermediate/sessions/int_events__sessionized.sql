{#-
    Every event of int_events__unified with its session (SEMANTICS.md, Sessions).

    - A PostHog event with a non-empty `$session_id` belongs to the session
      (person_id, `$session_id`): a shared device can put two persons in one
      `$session_id`, and that gives two sessions.
    - Every other event (app server events, even when they carry the browser's session
      id; PostHog events without `$session_id`; CRM touchpoints) is sessionised per
      person by inactivity: a new session starts when an event comes more than
      var('session_gap_minutes') after the person's previous such event. A gap of exactly
      that long continues the session, as in posthog-js, which rotates `$session_id` only
      when `now - last activity > timeout`. Midnight never starts a session.
    - Events are ordered by (occurred_at, event_id), event_id in byte order, so the
      result never depends on load order.

    session_id = short_md5(session_kind || ':' || person_id || ':' || key), where key is
    the `$session_id` for PostHog sessions and the event_id of the session's first event
    for inactivity sessions. person_id never contains ':', so the text is unambiguous.
-#}

{%- set in_posthog_session -%}
    coalesce(source = 'posthog' and posthog_session_id <> '', false)
{%- endset -%}

with

-- PostHog events with a `$session_id`: no ordering needed, the key is (person,
-- $session_id). Each rule reads the events itself, not through one shared CTE: an engine
-- may materialise a CTE read twice, and these rows carry their whole properties
posthog_session_events as (

    select * from {{ ref('int_events__unified') }}
    where {{ in_posthog_session }}

),

-- every other event: sessionised per person by inactivity
inactivity_events as (

    select * from {{ ref('int_events__unified') }}
    where not {{ in_posthog_session }}

),

posthog_sessioned as (

    select
        *,
        'posthog' as session_kind,
        {{ journeys.short_md5(
            "'posthog:' || person_id || ':' || posthog_session_id"
        ) }} as session_id

    from posthog_session_events

),

-- first window pass over each person's other events in (occurred_at, event_id) order:
-- the previous event's time, and the event's position in that order
inactivity_ordered as (

    select
        *,
        lag(occurred_at) over (
            partition by person_id
            order by occurred_at, {{ journeys.byte_order('event_id') }}
        ) as previous_occurred_at,
        row_number() over (
            partition by person_id
            order by occurred_at, {{ journeys.byte_order('event_id') }}
        ) as timeline_position

    from inactivity_events

),

-- a session starts at the person's first event and at every event more than the gap
-- after the one before. Each start is marked with its position, zero-padded so that
-- text order is time order, followed by its event_id
inactivity_starts as (

    select
        *,
        case
            when
                previous_occurred_at is null
                or {{ journeys.seconds_between('previous_occurred_at', 'occurred_at') }}
                > {{ var('session_gap_minutes') }} * 60
                then
                    lpad(cast(timeline_position as {{ dbt.type_string() }}), 12, '0')
                    || event_id
        end as start_marker

    from inactivity_ordered

),

-- second pass: every event takes the latest start at or before it, which is the running
-- maximum of the markers (they grow with position); its event_id keys the session
inactivity_sessioned as (

    select
        *,
        max(start_marker) over (
            partition by person_id
            order by timeline_position
            rows between unbounded preceding and current row
        ) as session_start_marker

    from inactivity_starts

),

final as (

    select
        event_id,
        source,
        person_id,
        distinct_id,
        event_name,
        occurred_at,
        posthog_session_id,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        properties,
        session_kind,
        session_id

    from posthog_sessioned

    union all

    select
        event_id,
        source,
        person_id,
        distinct_id,
        event_name,
        occurred_at,
        posthog_session_id,
        referring_domain,
        utm_source,
        utm_medium,
        utm_campaign,
        properties,
        'inactivity' as session_kind,
        {{ journeys.short_md5(
            "'inactivity:' || person_id || ':' || substring(session_start_marker, 13)"
        ) }} as session_id

    from inactivity_sessioned

)

select * from final
