{#- fct_journey_edges is a flow: the persons leaving step 1 are the outcome's persons
    with a signup (when journey_steps >= 2), and at every later step k the persons who
    arrived at an event (edges of step k-1 into it) leave it again (edges of step k out of
    it; `(end)` is never left). Returns the disagreeing outcomes and nodes. -#}

{%- set settings = journeys.journey_settings() -%}

with

edges as (

    select * from {{ ref('fct_journey_edges') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

outcome_persons as (

    select
        trial_outcome as outcome,
        count(*) as persons
    from persons
    where signed_up_at is not null and {{ settings.steps }} >= 2
    group by trial_outcome

),

leaving_signup as (

    select
        outcome,
        sum(persons) as persons
    from edges
    where step_number = 1
    group by outcome

),

signup_mismatches as (

    select
        coalesce(outcome_persons.outcome, leaving_signup.outcome) as outcome,
        1 as step_number,
        'signed_up' as event_name,
        outcome_persons.persons as persons_in,
        leaving_signup.persons as persons_out
    from outcome_persons
    full outer join leaving_signup on outcome_persons.outcome = leaving_signup.outcome
    where
        outcome_persons.persons is null
        or leaving_signup.persons is null
        or outcome_persons.persons != leaving_signup.persons

),

arriving as (

    select
        outcome,
        step_number + 1 as step_number,
        to_event as event_name,
        sum(persons) as persons
    from edges
    where to_event != '(end)' and step_number + 1 < {{ settings.steps }}
    group by outcome, step_number + 1, to_event

),

leaving as (

    select
        outcome,
        step_number,
        from_event as event_name,
        sum(persons) as persons
    from edges
    where step_number > 1
    group by outcome, step_number, from_event

),

flow_mismatches as (

    select
        coalesce(arriving.outcome, leaving.outcome) as outcome,
        coalesce(arriving.step_number, leaving.step_number) as step_number,
        coalesce(arriving.event_name, leaving.event_name) as event_name,
        arriving.persons as persons_in,
        leaving.persons as persons_out
    from arriving
    full outer join leaving
        on
            arriving.outcome = leaving.outcome
            and arriving.step_number = leaving.step_number
            and arriving.event_name = leaving.event_name
    where
        arriving.persons is null
        or leaving.persons is null
        or arriving.persons != leaving.persons

),

final as (

    select * from signup_mismatches
    union all
    select * from flow_mismatches

)

select * from final
