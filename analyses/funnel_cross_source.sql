-- The cross-source funnel (var `funnels`: sales_assisted): signed up in the app, opened
-- an Intercom conversation, won a HubSpot deal, within 30 days. PostHog sees only the
-- first step; here each step's persons, its conversion and the median time it took,
-- next to how many won deals had no conversation at all.
-- `dbt compile --select funnel_cross_source`, then run the compiled SQL.

with

steps as (

    select * from {{ ref('fct_funnel_steps') }}
    where funnel_name = 'sales_assisted'

),

won_without_conversation as (

    select count(distinct events.person_id) as persons
    from {{ ref('fct_events') }} as events
    where
        events.is_counted
        and events.event_name = 'deal_stage_changed'
        and {{ journeys.json_text('events.properties', 'deal_stage') }} = 'closedwon'
        and not exists (
            select 1
            from {{ ref('fct_events') }} as conversations
            where
                conversations.person_id = events.person_id
                and conversations.event_name = 'conversation_opened'
        )

)

select
    steps.step_number,
    steps.step_event,
    steps.persons_reached,
    round(steps.conversion_from_previous, 3) as conversion_from_previous,
    round(steps.median_seconds_from_previous / 3600, 1) as median_hours_from_previous,
    won_without_conversation.persons as deals_won_without_a_conversation
from steps
cross join won_without_conversation
order by steps.step_number
