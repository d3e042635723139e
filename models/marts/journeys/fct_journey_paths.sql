{#-
    The most common complete paths after signup, per trial outcome (docs/journeys.md): a
    person's path is their first N steps (var journey_steps; int_journey__steps: the
    signup first, consecutive repeats collapsed, excluded events left out) joined with
    ` → `, ending in `(end)` when they have fewer than N steps. One row per outcome and
    path among the outcome's top K (var journey_top_paths) by persons; ties go to the
    path first in byte order. conversion_rate is the path's, across outcomes: of the
    persons whose trial has ended and who took the path, the share who converted.
-#}

{%- set settings = journeys.journey_settings() -%}

with

steps as (

    select * from {{ ref('int_journey__steps') }}

),

-- a person's first N steps side by side
first_steps as (

    select
        person_id,
        trial_outcome,
        is_trial_ended,
        journey_steps,
        {% for k in range(1, settings.steps + 1) -%}
            max(case when step_number = {{ k }} then step_name end) as step_{{ k }}
            {{- ',' if not loop.last }}
        {% endfor %}

    from steps
    where step_number <= {{ settings.steps }}
    group by person_id, trial_outcome, is_trial_ended, journey_steps

),

person_paths as (

    select
        person_id,
        trial_outcome,
        is_trial_ended,
        {{ journeys.journey_path(settings.steps,
                                 'journey_steps < ' ~ settings.steps) }} as path

    from first_steps

),

{{ journeys.journey_ranked_paths('person_paths', settings.top_paths) }}
