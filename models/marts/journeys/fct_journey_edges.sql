{#-
    The Sankey of the first N steps after signup (var journey_steps), per trial outcome
    (docs/journeys.md): one row per outcome, step number k and edge from step k to step
    k+1 with the persons who took it. Steps are int_journey__steps' (the signup first,
    consecutive repeats collapsed, excluded events left out). A person with m steps
    contributes the edges 1..m-1, and when m < N one more at step m, from their last step
    to `(end)`; a person with N or more steps the edges 1..N-1, none to `(end)`. So the
    persons at step_number 1 are the outcome's persons (N >= 2), and N = 1 has no edges.
-#}

{%- set settings = journeys.journey_settings() -%}
{%- set labels = journeys.journey_labels() -%}

with

steps as (

    select * from {{ ref('int_journey__steps') }}

),

-- each step before step N leads to the person's next step, or ends their journey
edges as (

    select
        trial_outcome as outcome,
        step_number,
        step_name as from_event,
        coalesce(next_step_name, {{ journeys.text_literal(labels['end']) }}) as to_event,
        person_id

    from steps
    where step_number < {{ settings.steps }}

),

final as (

    select
        outcome,
        step_number,
        from_event,
        to_event,
        count(*) as persons

    from edges
    group by outcome, step_number, from_event, to_event

)

select * from final
