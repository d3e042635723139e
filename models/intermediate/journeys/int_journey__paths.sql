{#-
    Every person's path, both ways, and every path's numbers per outcome (docs/journeys.md):
    after signup, a person's first N steps (var journey_steps) joined with ` → `, then
    `(end)` when they have fewer; before their decision (a converted person's conversion,
    a churned person's churn), the last N steps that started strictly before it (the
    signup: at or before it). One row per path_kind, outcome and path with its persons,
    share of the outcome, conversion rate across outcomes (converted among the persons on
    the path whose trial has ended) and rank in the outcome (most persons first, ties in
    byte order). fct_journey_paths and fct_journey_paths_before keep the top K of each.
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
        {%- for k in range(1, settings.steps + 1) %}
            max(case when step_number = {{ k }} then step_name end) as step_{{ k }},
        {%- endfor %}
        journey_steps

    from steps
    where step_number <= {{ settings.steps }}
    group by person_id, trial_outcome, is_trial_ended, journey_steps

),

-- the last N steps before the decision, placed 1..N from the earliest of them (steps
-- 1..steps_before_decision are those before it)
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
        {%- for k in range(1, settings.steps + 1) %}
            max(case when place = {{ k }} then step_name end) as step_{{ k }},
        {%- endfor %}
        is_trial_ended

    from last_steps
    group by person_id, trial_outcome, is_trial_ended

),

person_paths as (

    select
        'after_signup' as path_kind,
        person_id,
        trial_outcome,
        is_trial_ended,
        {{ journeys.journey_path(settings.steps, 'journey_steps < ' ~ settings.steps) }}
            as path  -- noqa: RF04

    from first_steps

    union all

    select
        'before_decision' as path_kind,
        person_id,
        trial_outcome,
        is_trial_ended,
        {{ journeys.journey_path(settings.steps, none) }} as path  -- noqa: RF04

    from before_steps

),

path_persons as (

    select
        path_kind,
        trial_outcome as outcome,
        path,
        count(*) as persons

    from person_paths
    group by path_kind, trial_outcome, path

),

outcome_persons as (

    select
        path_kind,
        trial_outcome as outcome,
        count(*) as persons

    from person_paths
    group by path_kind, trial_outcome

),

-- the path's conversion, whatever the outcome of the row it is shown on: converted among
-- the persons on it whose trial has ended
path_conversion as (

    select
        path_kind,
        path,
        count(case when is_trial_ended and trial_outcome = 'converted' then 1 end)
            as converted_persons,
        count(case when is_trial_ended then 1 end) as trial_ended_persons

    from person_paths
    group by path_kind, path

),

final as (

    select
        path_persons.path_kind,
        path_persons.outcome,
        cast(row_number() over (
            partition by path_persons.path_kind, path_persons.outcome
            order by path_persons.persons desc, {{ journeys.byte_order('path_persons.path') }}
        ) as integer) as path_rank,
        path_persons.path,
        path_persons.persons,
        cast(path_persons.persons as {{ journeys.type_double() }})
        / cast(outcome_persons.persons as {{ journeys.type_double() }}) as share_of_outcome,
        case
            when path_conversion.trial_ended_persons > 0
                then
                    cast(path_conversion.converted_persons as {{ journeys.type_double() }})
                    / cast(path_conversion.trial_ended_persons as {{ journeys.type_double() }})
        end as conversion_rate

    from path_persons
    inner join outcome_persons
        on
            path_persons.path_kind = outcome_persons.path_kind
            and path_persons.outcome = outcome_persons.outcome
    inner join path_conversion
        on
            path_persons.path_kind = path_conversion.path_kind
            and path_persons.path = path_conversion.path

)

select * from final
