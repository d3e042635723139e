{#- Journey helpers (docs/journeys.md): the journey vars, read and checked once. -#}

{#- PostHog's identity plumbing: these events link ids (the identity graph reads them);
    they say who someone is, not what they did, so they are never a journey step,
    whatever journey_excluded_events says. -#}
{% macro journey_identity_events() -%}
    {{ return(['$identify', '$create_alias', '$merge_dangerously']) }}
{%- endmacro %}

{#- A journey's start node (the signup, step 1), the Sankey's terminal node for a person
    with fewer steps than journey_steps, and the separator of a path's steps. -#}
{% macro journey_labels() -%}
    {{ return({'signup': 'signed_up', 'end': '(end)', 'separator': ' → '}) }}
{%- endmacro %}

{#- The journey vars, checked: {'steps': N >= 1, 'excluded_events': a list of event
    names (possibly empty), 'top_paths': K >= 1, 'not_steps': the excluded events and the
    identity events together}. A value of the wrong shape stops the build at compile time
    with a message naming the var. -#}
{% macro journey_settings() -%}
    {%- set steps = var('journey_steps', 6) -%}
    {%- set excluded = var('journey_excluded_events',
        ['$pageview', '$autocapture', '$pageleave', '$feature_flag_called']) -%}
    {%- set top_paths = var('journey_top_paths', 50) -%}
    {%- set fix = " Set it in dbt_project.yml's vars or with --vars (docs/journeys.md)." -%}
    {%- for name, value, example in [('journey_steps', steps, 6),
                                     ('journey_top_paths', top_paths, 50)] -%}
        {%- if value is sameas true or value is sameas false or value is not number
            or value != value | int or value < 1 -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " must be a positive whole number, like " ~ example
                ~ "; got " ~ value | string ~ "." ~ fix) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if excluded is none or excluded is string or excluded is mapping
        or excluded is not iterable -%}
        {{ exceptions.raise_compiler_error(
            "var journey_excluded_events must be a list of event names, like [$pageview, "
            ~ "$autocapture] ([] to exclude nothing); got " ~ excluded | string ~ "." ~ fix) }}
    {%- endif -%}
    {%- for event in excluded -%}
        {%- if event is not string or event | trim == '' -%}
            {{ exceptions.raise_compiler_error(
                "var journey_excluded_events: item " ~ loop.index ~ " (" ~ event | string
                ~ ") is not an event name (a non-blank text)." ~ fix) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set not_steps = [] -%}
    {%- for event in journeys.journey_identity_events() + (excluded | list) -%}
        {%- if event not in not_steps -%}
            {%- do not_steps.append(event) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'steps': steps | int, 'excluded_events': excluded | list,
               'top_paths': top_paths | int, 'not_steps': not_steps}) }}
{%- endmacro %}

{#- A person's path: their steps 1..N (columns step_1 .. step_N of one row, null past the
    person's last step) joined with the separator, then `(end)` when `ends_early` (a SQL
    boolean) is true. Plain concatenation, so it reads the same on every engine. -#}
{% macro journey_path(steps, ends_early) -%}
    {%- set labels = journeys.journey_labels() -%}
    step_1
    {%- for k in range(2, steps + 1) %}
        || coalesce({{ journeys.text_literal(labels.separator) }} || step_{{ k }}, '')
    {%- endfor %}
    {%- if ends_early is not none %}
        || case
            when {{ ends_early }}
                then {{ journeys.text_literal(labels.separator ~ labels['end']) }}
            else ''
        end
    {%- endif %}
{%- endmacro %}

{#- The tail of a paths mart, shared by fct_journey_paths and fct_journey_paths_before:
    CTEs from `person_paths` (person_id, trial_outcome, is_trial_ended, path; one row per
    person) to the final select. Per outcome: persons per path, their share of the
    outcome's persons, the path's conversion rate across outcomes (converted among the
    trial-ended persons who took it; null when none has), and the top K paths by persons,
    ties to the path first in byte order. -#}
{% macro journey_ranked_paths(person_paths, top_paths) -%}
path_persons as (

    select
        trial_outcome as outcome,
        path,
        count(*) as persons

    from {{ person_paths }}
    group by trial_outcome, path

),

outcome_persons as (

    select
        trial_outcome as outcome,
        count(*) as persons

    from {{ person_paths }}
    group by trial_outcome

),

-- the path's conversion, whatever the outcome of the row it is shown on
path_conversion as (

    select
        path,
        count(case when is_trial_ended and trial_outcome = 'converted' then 1 end)
            as converted_persons,
        count(case when is_trial_ended then 1 end) as trial_ended_persons

    from {{ person_paths }}
    group by path

),

ranked as (

    select
        outcome,
        path,
        persons,
        row_number() over (
            partition by outcome
            order by persons desc, {{ journeys.byte_order('path') }}
        ) as path_rank

    from path_persons

),

final as (

    select
        ranked.outcome,
        cast(ranked.path_rank as integer) as path_rank,
        ranked.path,
        ranked.persons,
        cast(ranked.persons as {{ journeys.type_double() }})
        / cast(outcome_persons.persons as {{ journeys.type_double() }}) as share_of_outcome,
        case
            when path_conversion.trial_ended_persons > 0
                then
                    cast(path_conversion.converted_persons as {{ journeys.type_double() }})
                    / cast(path_conversion.trial_ended_persons as {{ journeys.type_double() }})
        end as conversion_rate

    from ranked
    inner join outcome_persons on ranked.outcome = outcome_persons.outcome
    inner join path_conversion on ranked.path = path_conversion.path
    where ranked.path_rank <= {{ top_paths }}

)

select * from final
{%- endmacro %}
