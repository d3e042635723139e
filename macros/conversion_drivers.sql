{#- Conversion drivers (SEMANTICS.md, "Conversion drivers"; docs/conversion_drivers.md).
    The vars are read and checked here once; a bad value stops the build at compile time
    with a message naming the var and the fix. -#}

{#- The tracking plan statuses whose events are candidates: what the product sends today
    (active) or still sends (deprecated). A removed event was replaced by another (counting
    both would test one behaviour twice); a proposed one is not shipped yet. -#}
{% macro conversion_drivers_plan_statuses() -%}
    {{ return(['active', 'deprecated']) }}
{%- endmacro %}

{#- The conversion-driver vars, checked:
    {'window_days': int > 0, 'min_support': int >= 0, 'alpha': number in (0, 1),
     'outcome_events': list of event names (may be empty)}. -#}
{% macro conversion_drivers_settings() -%}
    {%- set window_days = var('conversion_drivers_window_days', 7) -%}
    {%- set min_support = var('conversion_drivers_min_support', 30) -%}
    {%- set alpha = var('conversion_drivers_alpha', 0.05) -%}
    {%- set outcome_events = var('conversion_drivers_outcome_events',
        ['plan_upgraded', 'cancellation_started', 'account_deleted']) -%}
    {%- set fix = " Set it in dbt_project.yml's vars or with --vars "
        ~ "(docs/conversion_drivers.md)." -%}
    {#- `is integer` is false for true/false (Jinja's test), so a boolean is refused too -#}
    {%- if window_days is not integer or window_days < 1 -%}
        {{ exceptions.raise_compiler_error(
            "var conversion_drivers_window_days must be a positive whole number of days "
            ~ "(the behaviour window after signup, like 7); got " ~ window_days | string
            ~ "." ~ fix) }}
    {%- endif -%}
    {%- if min_support is not integer or min_support < 0 -%}
        {{ exceptions.raise_compiler_error(
            "var conversion_drivers_min_support must be a whole number of persons, 0 or "
            ~ "more (a behaviour is ranked only when at least this many persons did it and "
            ~ "at least this many did not); got " ~ min_support | string ~ "." ~ fix) }}
    {%- endif -%}
    {%- if alpha is not number or alpha is sameas true or alpha is sameas false
        or alpha <= 0 or alpha >= 1 -%}
        {{ exceptions.raise_compiler_error(
            "var conversion_drivers_alpha must be a number strictly between 0 and 1 (the "
            ~ "false discovery rate a q_value is compared with, like 0.05); got "
            ~ alpha | string ~ "." ~ fix) }}
    {%- endif -%}
    {%- if outcome_events is none -%}
        {%- set outcome_events = [] -%}
    {%- endif -%}
    {%- if outcome_events is string or outcome_events is mapping
        or outcome_events is not iterable -%}
        {{ exceptions.raise_compiler_error(
            "var conversion_drivers_outcome_events must be a list of event names (the "
            ~ "events that record the outcome itself, like [plan_upgraded]), or [] for "
            ~ "none; got " ~ outcome_events | string ~ "." ~ fix) }}
    {%- endif -%}
    {%- for name in outcome_events -%}
        {%- if name is not string or name | trim == '' -%}
            {{ exceptions.raise_compiler_error(
                "var conversion_drivers_outcome_events: item " ~ loop.index ~ " ("
                ~ name | string ~ ") is not an event name (a non-blank text)." ~ fix) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'window_days': window_days, 'min_support': min_support, 'alpha': alpha,
               'outcome_events': outcome_events | list}) }}
{%- endmacro %}

{#- erfc(x) for x >= 0, from two SQL expressions (columns, best): x and t = 1 / (1 + x / 2).
    Numerical Recipes' Chebyshev fit (erfcc): relative error below 1.2e-7 for every x, in
    plain arithmetic every engine has (DuckDB and Spark have no erf). Above x = 26 (erfc
    below 1e-295) it is 0, before exp could underflow (PostgreSQL raises an error on an
    underflow). A two-sided normal p-value is erfc(|z| / sqrt 2). -#}
{% macro conversion_drivers_erfc(x, t) -%}
    case
        when {{ x }} > 26 then 0.0
        else {{ t }} * exp(
            -{{ x }} * {{ x }} - 1.26551223 + {{ t }} * (1.00002368 + {{ t }} * (
                0.37409196 + {{ t }} * (0.09678418 + {{ t }} * (-0.18628806 + {{ t }} * (
                    0.27886807 + {{ t }} * (-1.13520398 + {{ t }} * (1.48851587 + {{ t }} * (
                        -0.82215223 + {{ t }} * 0.17087277)))))))
            )
        )
    end
{%- endmacro %}
