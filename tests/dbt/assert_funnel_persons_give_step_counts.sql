{#- fct_funnel_persons is the drill-down of fct_funnel_steps: counting its rows per
    funnel, breakdown and step gives persons_reached exactly (PostHog/posthog#18958 is
    the bug this guards against). Returns the disagreeing cells. -#}

with

persons as (

    select * from {{ ref('fct_funnel_persons') }}

),

steps as (

    select * from {{ ref('fct_funnel_steps') }}

),

counted as (

    select
        steps.funnel_name,
        steps.breakdown_value,
        steps.step_number,
        steps.persons_reached,
        count(persons.person_id) as persons_in_drill_down
    from steps
    left join persons
        on
            steps.funnel_name = persons.funnel_name
            and steps.breakdown_value = persons.breakdown_value
            and steps.step_number <= persons.furthest_step
    group by
        steps.funnel_name, steps.breakdown_value, steps.step_number, steps.persons_reached

),

final as (

    select * from counted
    where persons_reached != persons_in_drill_down

)

select * from final
