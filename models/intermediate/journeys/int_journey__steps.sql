{#-
    Every journey's steps, numbered (docs/journeys.md): one row per person with a signup
    and step. Step 1 is the signup itself (`signed_up`, at dim_persons.signed_up_at); the
    next steps are the person's counted events (fct_events.is_counted, every source) at or
    after the signup, except the excluded ones (var journey_excluded_events, and PostHog's
    identity events), in time order; at one instant `signed_up` comes first, then the
    other names in byte order. A HubSpot deal stage change is the step
    `deal_stage_changed:<stage>`. Consecutive repeats of one step are one step, which
    starts at the first of them. The journey marts read this model (the paths marts
    through int_journey__paths), not fct_events: fct_events is read once, here.
-#}

{%- set settings = journeys.journey_settings() -%}
{%- set labels = journeys.journey_labels() -%}
{%- set stage = journeys.json_text('events.properties', 'deal_stage') -%}

with

events as (

    select * from {{ ref('fct_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

data_end as (

    select {{ journeys.data_end_at('persons') }} as data_end_at

),

-- persons with a signup; their trial has ended when trial_days have passed since the
-- signup by the data's end (whatever the outcome: SEMANTICS.md's conversion rates count
-- only these). decided_at: the moment a converted person converted, a churned one churned
journeys as (

    select
        persons.person_id,
        persons.trial_outcome,
        persons.signed_up_at,
        case persons.trial_outcome
            when 'converted' then persons.converted_at
            when 'churned' then persons.churned_at
        end as decided_at,
        {{ dbt.dateadd('day', var('trial_days') | int, 'persons.signed_up_at') }}
        <= data_end.data_end_at as is_trial_ended

    from persons
    cross join data_end
    where persons.signed_up_at is not null

),

-- the one read of fct_events: each real occurrence once, at or after the signup, not
-- excluded. A deal stage change is named for the stage it entered, so a deal's way
-- through the pipeline stays visible after repeats collapse
named_events as (

    select
        events.person_id,
        events.event_id,
        events.occurred_at,
        case
            when events.event_name = 'deal_stage_changed' and {{ stage }} is not null
                then 'deal_stage_changed:' || {{ stage }}
            else events.event_name
        end as step_name

    from events
    inner join journeys on events.person_id = journeys.person_id
    where
        events.is_counted
        and events.occurred_at >= journeys.signed_up_at
        and events.event_name not in ({{ journeys.retention_text_list(settings.not_steps) }})

),

-- the signup starts every journey; at one instant it goes first, then `signed_up`
-- events (so the app's signup event at the signup instant is a repeat of step 1), then
-- the other names in byte order (an excluded stage label like
-- `deal_stage_changed:closedlost` is dropped here)
sequenced as (

    select
        person_id,
        '' as event_id,
        signed_up_at as occurred_at,
        {{ journeys.text_literal(labels.signup) }} as step_name,
        0 as rank_in_instant

    from journeys

    union all

    select
        person_id,
        event_id,
        occurred_at,
        step_name,
        case when step_name = {{ journeys.text_literal(labels.signup) }} then 1 else 2 end
            as rank_in_instant

    from named_events
    where step_name not in ({{ journeys.retention_text_list(settings.not_steps) }})

),

-- a row starts a new step unless it repeats the step just before it
with_previous as (

    select
        person_id,
        event_id,
        occurred_at,
        step_name,
        lag(step_name) over (
            partition by person_id
            order by
                occurred_at, rank_in_instant, {{ journeys.byte_order('step_name') }}, event_id
        ) as previous_step_name,
        rank_in_instant

    from sequenced

),

numbered_rows as (

    select
        person_id,
        occurred_at,
        step_name,
        sum(
            case when previous_step_name = step_name then 0 else 1 end
        ) over (
            partition by person_id
            order by
                occurred_at, rank_in_instant, {{ journeys.byte_order('step_name') }}, event_id
            rows between unbounded preceding and current row
        ) as step_number

    from with_previous

),

-- one row per step: its name and the instant its first row happened
steps as (

    select
        person_id,
        step_number,
        min(step_name) as step_name,
        min(occurred_at) as step_at

    from numbered_rows
    group by person_id, step_number

),

-- journey_steps: the person's steps in all; steps_before_decision: how many came before
-- the decision (converted_at or churned_at; the signup when at or before it, every other
-- step when it started strictly before it), null without one. The steps before are the
-- first ones, as steps are in time order
final as (

    select
        steps.person_id,
        journeys.trial_outcome,
        journeys.is_trial_ended,
        journeys.signed_up_at,
        journeys.decided_at,
        cast(steps.step_number as integer) as step_number,
        steps.step_name,
        steps.step_at,
        lead(steps.step_name) over (
            partition by steps.person_id order by steps.step_number
        ) as next_step_name,
        cast(count(*) over (partition by steps.person_id) as integer) as journey_steps,
        cast(
            case
                when journeys.decided_at is not null
                    then count(
                        case
                            when
                                steps.step_at < journeys.decided_at
                                or (steps.step_number = 1 and steps.step_at <= journeys.decided_at)
                                then 1
                        end
                    ) over (partition by steps.person_id)
            end
            as integer
        ) as steps_before_decision

    from steps
    inner join journeys on steps.person_id = journeys.person_id

)

select * from final
