{#-
    Client-side tracking loss (SEMANTICS.md, Tracking loss; docs/metrics.md): for events
    sent from both sides, how many of the app's server events (the truth) PostHog's
    client-side capture missed, per event and UTC day. An event is sent from both sides
    when the tracking plan says so (side `both`) or when both sources sent it at least
    once. Client events are every deduplicated PostHog row of the name, the copies of app
    events included: those copies are exactly what the client side captured.
-#}

with

events as (

    select * from {{ ref('fct_events') }}

),

plan as (

    select * from {{ ref('tracking_plan') }}

),

-- the one read of fct_events: rows per event, day and side. fct_events holds each
-- PostHog event once (deduplicated by uuid), and is_counted is not looked at: a PostHog
-- copy of an app event is a client-side capture like any other
side_days as (

    select
        event_name,
        {{ journeys.retention_utc_date('occurred_at') }} as event_date,
        count(case when source = 'app' then 1 end) as server_events,
        count(case when source = 'posthog' then 1 end) as client_events

    from events
    where source in ('app', 'posthog')
    group by
        event_name,
        {{ journeys.retention_utc_date('occurred_at') }}

),

-- events seen from both sources somewhere in the data, whatever the plan says
seen_on_both_sides as (

    select event_name
    from side_days
    group by event_name
    having sum(server_events) > 0 and sum(client_events) > 0

),

both_sides as (

    select event_name from plan
    where side = 'both'

    union

    select event_name from seen_on_both_sides

),

final as (

    select
        side_days.event_name,
        side_days.event_date,
        plan.side as plan_side,
        cast(side_days.server_events as bigint) as server_events,
        cast(side_days.client_events as bigint) as client_events,
        case
            when side_days.server_events > 0
                then cast(
                    side_days.server_events - side_days.client_events
                    as {{ journeys.type_double() }}
                )
                / side_days.server_events
        end as loss_pct,
        side_days.client_events > side_days.server_events as is_client_excess

    from side_days
    inner join both_sides on side_days.event_name = both_sides.event_name
    left join plan on side_days.event_name = plan.event_name

)

select * from final
