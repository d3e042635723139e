{#-
    The mirror of fct_journey_paths (docs/journeys.md): the last N steps (var
    journey_steps) before a converted person's conversion (converted_at) or a churned
    person's churn (churned_at), per outcome. The steps are int_journey__steps' (the
    signup first, consecutive repeats collapsed, excluded events left out); before means
    started strictly before the moment, the signup at or before it. Fewer than N such
    steps: all of them, so the path starts with the signup. A person without a moment
    (churned with no churned_at) or with nothing before it (decided before the signup) has
    no path. Same columns and rules as fct_journey_paths (top K per outcome, var
    journey_top_paths; conversion_rate across both outcomes, trial-ended persons only).
-#}

{%- set settings = journeys.journey_settings() -%}

with

steps as (

    select * from {{ ref('int_journey__steps') }}

),

-- the last N steps before the moment, numbered 1..N from the earliest of them
last_steps as (

    select
        person_id,
        trial_outcome,
        is_trial_ended,
        step_name,
        step_number - greatest(steps_before_decision - {{ settings.steps }}, 0) as place

    from steps
    where
        steps_before_decision > 0
        and step_number <= steps_before_decision
        and step_number > steps_before_decision - {{ settings.steps }}

),

before_steps as (

    select
        person_id,
        trial_outcome,
        is_trial_ended,
        {% for k in range(1, settings.steps + 1) -%}
            max(case when place = {{ k }} then step_name end) as step_{{ k }}
            {{- ',' if not loop.last }}
        {% endfor %}

    from last_steps
    group by person_id, trial_outcome, is_trial_ended

),

person_paths as (

    select
        person_id,
        trial_outcome,
        is_trial_ended,
        {{ journeys.journey_path(settings.steps, none) }} as path

    from before_steps

),

{{ journeys.journey_ranked_paths('person_paths', settings.top_paths) }}
