-- Cross-model invariant: every server-side event reaches fct_events exactly once.
-- Returns the app events that are missing or duplicated.
with

app_events as (

    select 'app-' || event_id as event_id from {{ ref('stg_app__events') }}

),

fct as (

    select
        event_id,
        count(*) as copies

    from {{ ref('fct_events') }}
    where source = 'app'
    group by event_id

)

select
    app_events.event_id,
    coalesce(fct.copies, 0) as copies

from app_events
left join fct on app_events.event_id = fct.event_id
where coalesce(fct.copies, 0) <> 1
