{#- Retention helpers (SEMANTICS.md, Retention; docs/funnels.md, "Retention"). The vars are
    read and checked here once; engine-specific parts go through dispatch. -#}

{#- The periods a retention table can count in: UTC days, ISO weeks (Monday 00:00 UTC)
    and calendar months. -#}
{% macro retention_periods() -%}
    {{ return(['day', 'week', 'month']) }}
{%- endmacro %}

{#- The retention vars, checked: {'return_events': none or a list of event names,
    'cohort_event': none (signup) or an event name, 'period': day | week | month}. A value
    of the wrong shape stops the build at compile time with a message naming the var. -#}
{% macro retention_settings() -%}
    {%- set return_events = var('retention_events', none) -%}
    {%- set cohort_event = var('retention_cohort_event', none) -%}
    {%- set period = var('retention_period', 'week') -%}
    {%- set fix = " Set it in dbt_project.yml's vars or with --vars (docs/funnels.md, "
        ~ "Retention)." -%}
    {%- if return_events is not none -%}
        {%- if return_events is string or return_events is mapping
            or return_events is not iterable -%}
            {{ exceptions.raise_compiler_error(
                "var retention_events must be null (every product event) or a list of "
                ~ "event names, like [file_uploaded, report_generated]; got "
                ~ return_events | string ~ "." ~ fix) }}
        {%- endif -%}
        {%- if return_events | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "var retention_events is an empty list, so no event would count as a "
                ~ "return; use null for every product event, or name the events." ~ fix) }}
        {%- endif -%}
        {%- for name in return_events -%}
            {%- if name is not string or name | trim == '' -%}
                {{ exceptions.raise_compiler_error(
                    "var retention_events: item " ~ loop.index ~ " (" ~ name | string
                    ~ ") is not an event name (a non-blank text)." ~ fix) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if cohort_event is not none and (cohort_event is not string or cohort_event | trim == ''
        or cohort_event == '(signup)') -%}
        {{ exceptions.raise_compiler_error(
            "var retention_cohort_event must be null (cohorts by signup) or one event name "
            ~ "(not the label `(signup)`); got " ~ cohort_event | string ~ "." ~ fix) }}
    {%- endif -%}
    {%- if period is not string or period not in journeys.retention_periods() -%}
        {{ exceptions.raise_compiler_error(
            "var retention_period must be one of " ~ journeys.retention_periods() | join(', ')
            ~ "; got " ~ period | string ~ "." ~ fix) }}
    {%- endif -%}
    {{ return({'return_events': return_events, 'cohort_event': cohort_event,
               'period': period}) }}
{%- endmacro %}

{#- True for a row of fct_events that marks a return: with retention_events null, a
    product event (source posthog or app, name not starting with `$`); else an event named
    in the list, from any source. The caller also keeps to counted rows (is_counted). -#}
{% macro retention_is_return(return_events, source, event_name) -%}
    {%- if return_events is none -%}
        ({{ source }} in ('posthog', 'app') and {{ event_name }} not like '$%')
    {%- else -%}
        {{ event_name }} in ({{ journeys.retention_text_list(return_events) }})
    {%- endif -%}
{%- endmacro %}

{#- Text literals, comma separated. -#}
{% macro retention_text_list(values) -%}
    {%- for value in values -%}
        {{ journeys.text_literal(value) }}{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#- The UTC calendar date of an instant. -#}
{% macro retention_utc_date(instant) -%}
    {{ return(adapter.dispatch('retention_utc_date', 'journeys')(instant)) }}
{%- endmacro %}

{% macro default__retention_utc_date(instant) -%}
    cast(({{ instant }} at time zone 'UTC') as date)
{%- endmacro %}

{#- Spark's timestamps are instants read in the session's time zone, UTC (profiles.yml) -#}
{% macro spark__retention_utc_date(instant) -%}
    cast({{ instant }} as date)
{%- endmacro %}

{#- The first day of the period (a SQL text expression: 'day', 'week' or 'month') that
    holds a date: the date itself, its ISO week's Monday, the first of its month. -#}
{% macro retention_period_start(period, day) -%}
    case {{ period }}
        when 'day' then {{ day }}
        when 'week' then cast(date_trunc('week', cast({{ day }} as timestamp)) as date)
        when 'month' then cast(date_trunc('month', cast({{ day }} as timestamp)) as date)
    end
{%- endmacro %}

{#- Whole periods from one period start to another (both first days of a period of that
    kind, so weeks divide exactly): days, weeks, or calendar months apart. -#}
{% macro retention_periods_between(period, start_day, end_day) -%}
    cast(
        case {{ period }}
            when 'day' then {{ journeys.retention_days_between(start_day, end_day) }}
            when 'week' then {{ journeys.retention_days_between(start_day, end_day) }} / 7
            when 'month'
                then (extract(year from {{ end_day }}) - extract(year from {{ start_day }})) * 12
                + extract(month from {{ end_day }}) - extract(month from {{ start_day }})
        end
        as bigint
    )
{%- endmacro %}

{#- Days from one date to a later one (an integer). -#}
{% macro retention_days_between(start_day, end_day) -%}
    {{ return(adapter.dispatch('retention_days_between', 'journeys')(start_day, end_day)) }}
{%- endmacro %}

{% macro default__retention_days_between(start_day, end_day) -%}
    ({{ end_day }} - {{ start_day }})
{%- endmacro %}

{% macro spark__retention_days_between(start_day, end_day) -%}
    datediff({{ end_day }}, {{ start_day }})
{%- endmacro %}

{#- In a select list: one row for each integer 0, 1, ..., up_to (up_to >= 0). -#}
{% macro retention_zero_to(up_to) -%}
    {{ return(adapter.dispatch('retention_zero_to', 'journeys')(up_to)) }}
{%- endmacro %}

{% macro default__retention_zero_to(up_to) -%}
    generate_series(0, {{ up_to }})
{%- endmacro %}

{% macro duckdb__retention_zero_to(up_to) -%}
    unnest(generate_series(0, {{ up_to }}))
{%- endmacro %}

{% macro spark__retention_zero_to(up_to) -%}
    explode(sequence(0, {{ up_to }}))
{%- endmacro %}
