{#- Helpers of the metrics marts (fct_daily_metrics) and of fct_tracking_loss
    (docs/metrics.md). -#}

{#- The days' active events, checked: none (product use: counted PostHog and app events
    whose name does not start with `$`, retention's default) or a list of event names. A
    value of another shape stops the build at compile time with a message naming the var. -#}
{% macro metrics_active_events() -%}
    {%- set active_events = var('metrics_active_events', none) -%}
    {%- set fix = " Set it in dbt_project.yml's vars or with --vars (docs/metrics.md)." -%}
    {%- if active_events is not none -%}
        {%- if active_events is string or active_events is mapping
            or active_events is not iterable -%}
            {{ exceptions.raise_compiler_error(
                "var metrics_active_events must be null (every product event) or a list "
                ~ "of event names, like [file_uploaded, report_generated]; got "
                ~ active_events | string ~ "." ~ fix) }}
        {%- endif -%}
        {%- if active_events | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "var metrics_active_events is an empty list, so nobody would ever be "
                ~ "active; use null for every product event, or name the events." ~ fix) }}
        {%- endif -%}
        {%- for name in active_events -%}
            {%- if name is not string or name | trim == '' -%}
                {{ exceptions.raise_compiler_error(
                    "var metrics_active_events: item " ~ loop.index ~ " (" ~ name | string
                    ~ ") is not an event name (a non-blank text)." ~ fix) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(active_events) }}
{%- endmacro %}

{#- var trial_days, checked: a whole number of days, at least 1. -#}
{% macro metrics_trial_days() -%}
    {%- set trial_days = var('trial_days', 14) -%}
    {%- if trial_days is boolean or trial_days is not number or trial_days != trial_days | int
        or trial_days < 1 -%}
        {{ exceptions.raise_compiler_error(
            "var trial_days must be a whole number of days, at least 1 (default 14); got "
            ~ trial_days | string ~ ". Set it in dbt_project.yml's vars or with --vars.") }}
    {%- endif -%}
    {{ return(trial_days | int) }}
{%- endmacro %}

{#- The date `days` days after a date (`days` an integer expression). -#}
{% macro metrics_add_days(day, days) -%}
    {{ return(adapter.dispatch('metrics_add_days', 'journeys')(day, days)) }}
{%- endmacro %}

{#- DuckDB and PostgreSQL: date + integer is a date (PostgreSQL has no date + bigint) -#}
{% macro default__metrics_add_days(day, days) -%}
    ({{ day }} + cast({{ days }} as integer))
{%- endmacro %}

{% macro spark__metrics_add_days(day, days) -%}
    date_add({{ day }}, cast({{ days }} as int))
{%- endmacro %}
