-- Where each acquisition channel loses the most trials: per first_touch_source, the
-- activation step with the lowest conversion from the previous step (at least 20
-- persons at the previous step, so one odd week does not lead).
-- `dbt compile --select funnel_worst_step_by_source`, then run the compiled SQL.

with

activation_steps as (

    select distinct
        step_number,
        step_event
    from {{ ref('fct_funnel_steps') }}
    where funnel_name = 'activation'

),

steps as (

    select
        persons.first_touch_source,
        funnel.step_number,
        funnel.step_event,
        count(*) filter (
            where persons_in_funnel.furthest_step >= funnel.step_number
        ) as reached
    from {{ ref('fct_funnel_persons') }} as persons_in_funnel
    inner join {{ ref('dim_persons') }} as persons
        on persons_in_funnel.person_id = persons.person_id
    cross join activation_steps as funnel
    where persons_in_funnel.funnel_name = 'activation'
    group by persons.first_touch_source, funnel.step_number, funnel.step_event

),

rated as (

    select
        *,
        lag(reached) over (
            partition by first_touch_source order by step_number
        ) as previous_reached
    from steps

),

ranked as (

    select
        first_touch_source,
        step_event,
        previous_reached,
        reached,
        round(1.0 * reached / previous_reached, 3) as conversion_from_previous,
        row_number() over (
            partition by first_touch_source order by 1.0 * reached / previous_reached
        ) as worst
    from rated
    where previous_reached >= 20

)

select
    first_touch_source,
    step_event as worst_step,
    previous_reached,
    reached,
    conversion_from_previous
from ranked
where worst = 1
order by conversion_from_previous
