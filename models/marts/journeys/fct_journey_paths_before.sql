{#-
    The mirror of fct_journey_paths (docs/journeys.md): the last N steps (var
    journey_steps) before a converted person's conversion (converted_at) or a churned
    person's churn (churned_at), per outcome (int_journey__paths). The steps are int_journey__steps' (the
    signup first, consecutive repeats collapsed, excluded events left out); before means
    started strictly before the moment, the signup at or before it. Fewer than N such
    steps: all of them, so the path starts with the signup. A person without a moment
    (churned with no churned_at) or with nothing before it (decided before the signup) has
    no path. Same columns and rules as fct_journey_paths (top K per outcome, var
    journey_top_paths; conversion_rate across both outcomes, trial-ended persons only).
-#}

{%- set settings = journeys.journey_settings() -%}

with

paths as (

    select * from {{ ref('int_journey__paths') }}

),

final as (

    select
        outcome,
        path_rank,
        path,
        persons,
        share_of_outcome,
        conversion_rate

    from paths
    where path_kind = 'before_decision' and path_rank <= {{ settings.top_paths }}

)

select * from final
