{#- The time-to-convert histogram of a step holds every person who reached it, once:
    its bins add up to fct_funnel_steps' persons_reached summed over breakdown values.
    Returns the steps where they differ. -#}

with

histogram as (

    select
        funnel_name,
        step_number,
        sum(persons) as persons_in_bins
    from {{ ref('fct_funnel_time_to_convert') }}
    group by funnel_name, step_number

),

steps as (

    select
        funnel_name,
        step_number,
        sum(persons_reached) as persons_reached
    from {{ ref('fct_funnel_steps') }}
    where step_number > 1
    group by funnel_name, step_number

),

final as (

    select
        steps.funnel_name,
        steps.step_number,
        steps.persons_reached,
        histogram.persons_in_bins
    from steps
    left join histogram
        on
            steps.funnel_name = histogram.funnel_name
            and steps.step_number = histogram.step_number
    where coalesce(histogram.persons_in_bins, 0) != steps.persons_reached

)

select * from final
