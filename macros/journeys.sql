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
