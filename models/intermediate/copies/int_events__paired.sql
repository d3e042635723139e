{#-
    Events sent from both sides: the app's backend writes a server event to its events
    table (source `app`) and PostHog holds another copy of the same occurrence, captured
    in the browser by posthog-js or sent by a server SDK (journeys.capture). The server
    copy is the truth (SEMANTICS.md, Tracking loss), so each PostHog copy is paired here
    with its app event, and fct_events counts it no more (`is_counted`).

    One row per PostHog event that is a copy of an app event:
    - **by id**: its uuid is the app event's id (journeys.capture writes the PostHog uuid
      as the app row's id when that column is text or uuid);
    - **by time**: otherwise, per stream = (person, event name, the PostHog row's `$lib`),
      the stream's app events and PostHog events in time order form bursts (a new burst
      after a gap of more than var('server_copy_window_seconds') between two rows of the
      stream); in a burst the k-th PostHog event is the copy of the k-th app event, both
      taken in (occurred_at, event_id) order, when they are at most that many seconds
      apart.
    Each PostHog event is the copy of at most one app event, and an app event has at most
    one copy per library (`$lib`: `web`, `posthog-python`, ...): two browser copies near
    one server event leave one of them counted.
-#}

{%- set window_seconds = var('server_copy_window_seconds') -%}

with

-- the server copies: every app event
app_events as (

    select
        event_id,
        person_id,
        event_name,
        occurred_at

    from {{ ref('int_events__unified') }}
    where source = 'app'

),

posthog_events as (

    select
        event_id,
        person_id,
        event_name,
        occurred_at,
        properties

    from {{ ref('int_events__unified') }}
    where source = 'posthog'

),

-- a PostHog event whose uuid is an app event's id is that event's copy, whatever its time
matched_by_id as (

    select
        posthog_events.event_id,
        app_events.event_id as server_event_id,
        coalesce(
            {{ journeys.json_text('posthog_events.properties', '$lib') }}, ''
        ) as capture_library,
        'event_id' as matched_by,
        {{ journeys.seconds_between('app_events.occurred_at', 'posthog_events.occurred_at') }}
            as seconds_from_server

    from posthog_events
    inner join app_events on 'app-' || posthog_events.event_id = app_events.event_id

),

-- only a (person, event name) the app also sent can hold copies
app_keys as (

    select distinct
        person_id,
        event_name

    from app_events

),

posthog_unmatched as (

    select
        posthog_events.event_id,
        posthog_events.person_id,
        posthog_events.event_name,
        posthog_events.occurred_at,
        coalesce(
            {{ journeys.json_text('posthog_events.properties', '$lib') }}, ''
        ) as capture_library

    from posthog_events
    inner join app_keys
        on
            posthog_events.person_id = app_keys.person_id
            and posthog_events.event_name = app_keys.event_name
    left join matched_by_id on posthog_events.event_id = matched_by_id.event_id
    where matched_by_id.event_id is null

),

streams as (

    select distinct
        person_id,
        event_name,
        capture_library

    from posthog_unmatched

),

-- each stream's app events, except one already paired by id with a copy of that library
stream_app_events as (

    select
        app_events.event_id,
        app_events.person_id,
        app_events.event_name,
        streams.capture_library,
        app_events.occurred_at,
        1 as is_server

    from app_events
    inner join streams
        on
            app_events.person_id = streams.person_id
            and app_events.event_name = streams.event_name
    left join matched_by_id
        on
            app_events.event_id = matched_by_id.server_event_id
            and streams.capture_library = matched_by_id.capture_library
    where matched_by_id.event_id is null

),

stream_rows as (

    select * from stream_app_events

    union all

    select
        event_id,
        person_id,
        event_name,
        capture_library,
        occurred_at,
        0 as is_server

    from posthog_unmatched

),

-- each stream in time order: the previous row's time (app rows first at one instant)
stream_ordered as (

    select
        *,
        lag(occurred_at) over (
            partition by person_id, event_name, capture_library
            order by occurred_at, is_server desc, {{ journeys.byte_order('event_id') }}
        ) as previous_occurred_at

    from stream_rows

),

-- a burst starts at a stream's first row and after every gap longer than the window
burst_starts as (

    select
        *,
        case
            when
                previous_occurred_at is null
                or {{ journeys.seconds_between('previous_occurred_at', 'occurred_at') }}
                > {{ window_seconds }}
                then 1
            else 0
        end as is_burst_start

    from stream_ordered

),

bursts as (

    select
        *,
        sum(is_burst_start) over (
            partition by person_id, event_name, capture_library
            order by occurred_at, is_server desc, {{ journeys.byte_order('event_id') }}
            rows between unbounded preceding and current row
        ) as burst_number

    from burst_starts

),

-- within a burst, app events and PostHog events each numbered in time order: copies
-- keep the order of the occurrences they record
ranked as (

    select
        *,
        row_number() over (
            partition by person_id, event_name, capture_library, burst_number, is_server
            order by occurred_at, {{ journeys.byte_order('event_id') }}
        ) as copy_rank

    from bursts

),

-- first pass: the k-th PostHog event of a burst with its k-th app event
first_pass as (

    select
        posthog_rows.event_id,
        server_rows.event_id as server_event_id,
        posthog_rows.capture_library,
        'time' as matched_by,
        {{ journeys.seconds_between('server_rows.occurred_at', 'posthog_rows.occurred_at') }}
            as seconds_from_server

    from ranked as posthog_rows
    inner join ranked as server_rows
        on
            posthog_rows.person_id = server_rows.person_id
            and posthog_rows.event_name = server_rows.event_name
            and posthog_rows.capture_library = server_rows.capture_library
            and posthog_rows.burst_number = server_rows.burst_number
            and posthog_rows.copy_rank = server_rows.copy_rank
    where
        posthog_rows.is_server = 0
        and server_rows.is_server = 1
        and abs(
            {{ journeys.seconds_between('server_rows.occurred_at', 'posthog_rows.occurred_at') }}
        ) <= {{ window_seconds }}

),

-- what the first pass left: a copy lost early in a burst shifts the ranks after it, so a
-- later copy can land more than the window from the app event of its rank
leftovers as (

    select ranked.*

    from ranked
    left join first_pass as paired_copies
        on ranked.event_id = paired_copies.event_id
    left join first_pass as paired_servers
        on
            ranked.event_id = paired_servers.server_event_id
            and ranked.capture_library = paired_servers.capture_library
    where paired_copies.event_id is null and paired_servers.event_id is null

),

-- second pass over them, numbered from the burst's end
ranked_from_end as (

    select
        *,
        row_number() over (
            partition by person_id, event_name, capture_library, burst_number, is_server
            order by occurred_at desc, {{ journeys.byte_order('event_id') }} desc
        ) as copy_rank_from_end

    from leftovers

),

second_pass as (

    select
        posthog_rows.event_id,
        server_rows.event_id as server_event_id,
        posthog_rows.capture_library,
        'time' as matched_by,
        {{ journeys.seconds_between('server_rows.occurred_at', 'posthog_rows.occurred_at') }}
            as seconds_from_server

    from ranked_from_end as posthog_rows
    inner join ranked_from_end as server_rows
        on
            posthog_rows.person_id = server_rows.person_id
            and posthog_rows.event_name = server_rows.event_name
            and posthog_rows.capture_library = server_rows.capture_library
            and posthog_rows.burst_number = server_rows.burst_number
            and posthog_rows.copy_rank_from_end = server_rows.copy_rank_from_end
    where
        posthog_rows.is_server = 0
        and server_rows.is_server = 1
        and abs(
            {{ journeys.seconds_between('server_rows.occurred_at', 'posthog_rows.occurred_at') }}
        ) <= {{ window_seconds }}

),

final as (

    select * from matched_by_id

    union all

    select * from first_pass

    union all

    select * from second_pass

)

select * from final
