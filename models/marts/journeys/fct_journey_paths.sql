{#-
    The most common complete paths after signup, per trial outcome (docs/journeys.md): a
    person's path is their first N steps (var journey_steps; int_journey__paths, from
    int_journey__steps: the
    signup first, consecutive repeats collapsed, excluded events left out) joined with
    ` → `, ending in `(end)` when they have fewer than N steps. One row per outcome and
    path among the outcome's top K (var journey_top_paths) by persons; ties go to the
    path first in byte order. conversion_rate is the path's, across outcomes: of the
    persons whose trial has ended and who took the path, the share who converted.
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
    where path_kind = 'after_signup' and path_rank <= {{ settings.top_paths }}

)

select * from final
