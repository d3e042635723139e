{#- Segment helpers (SEMANTICS.md, "Segments (as of a date)"; docs/segments.md). The vars
    `segments` and `as_of_date` are read and checked here once; a bad value stops the
    build at compile time with a message naming the var. -#}

{#- The segments in rule order: the first whose rule holds is a person's segment. -#}
{% macro segments_names() -%}
    {{ return(['churned', 'champion', 'power_user', 'active', 'at_risk', 'dormant']) }}
{%- endmacro %}

{#- The keys of var segments: every one is required (a `--vars` map replaces the whole
    map of dbt_project.yml, it is not merged into it). -#}
{% macro segments_keys() -%}
    {{ return(['champion_min_events', 'champion_max_days', 'power_user_min_events',
               'power_user_max_days', 'active_max_days', 'at_risk_max_days']) }}
{%- endmacro %}

{#- var segments, checked: a map of the six thresholds, each a whole number >= 0. Max-days
    values that make a segment unreachable (at_risk_max_days <= active_max_days, say) are
    allowed: the segment is then simply empty (docs/segments.md). -#}
{% macro segments_settings() -%}
    {%- set settings = var('segments', none) -%}
    {%- set keys = journeys.segments_keys() -%}
    {%- set fix = " Set it in dbt_project.yml's vars or with --vars, e.g. --vars '{segments: "
        ~ "{champion_min_events: 100, champion_max_days: 7, power_user_min_events: 30, "
        ~ "power_user_max_days: 14, active_max_days: 14, at_risk_max_days: 30}}' "
        ~ "(docs/segments.md)." -%}
    {%- if settings is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var segments must be a map of the thresholds " ~ keys | join(', ') ~ "; got "
            ~ settings | string ~ "." ~ fix) }}
    {%- endif -%}
    {%- for key in settings -%}
        {%- if key not in keys -%}
            {{ exceptions.raise_compiler_error(
                "var segments has an unknown key " ~ key | string ~ " (the keys are "
                ~ keys | join(', ') ~ ")." ~ fix) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set out = {} -%}
    {%- for key in keys -%}
        {%- if key not in settings -%}
            {{ exceptions.raise_compiler_error(
                "var segments has no " ~ key ~ ": give all six thresholds (a map passed "
                ~ "with --vars replaces dbt_project.yml's whole map)." ~ fix) }}
        {%- endif -%}
        {%- set value = settings[key] -%}
        {%- if value is not integer or value < 0 -%}
            {{ exceptions.raise_compiler_error(
                "var segments." ~ key ~ " must be a whole number >= 0 (events or days); got "
                ~ value | string ~ "." ~ fix) }}
        {%- endif -%}
        {%- do out.update({key: value}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- var as_of_date, checked: none (the last day in the data) or the date as text
    'YYYY-MM-DD' (a real calendar date). -#}
{% macro segments_as_of_setting() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value is none -%}{{ return(none) }}{%- endif -%}
    {%- set text = value | string -%}
    {%- set fix = " Use null (the last day in the data) or a date such as 2026-03-31, in "
        ~ "dbt_project.yml's vars or with --vars '{as_of_date: 2026-03-31}' "
        ~ "(docs/segments.md)." -%}
    {%- set ok = modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) is not none -%}
    {%- if ok -%}
        {%- set year, month, day = text[:4] | int, text[5:7] | int, text[8:10] | int -%}
        {%- set ok = year >= 1 and 1 <= month <= 12 and day >= 1 -%}
        {%- if ok -%}
            {%- set first = modules.datetime.date(year, month, 1) -%}
            {%- set next_first = modules.datetime.date(
                year + month // 12, month % 12 + 1, 1) -%}
            {%- set ok = day <= (next_first - first).days -%}
        {%- endif -%}
    {%- endif -%}
    {%- if not ok -%}
        {{ exceptions.raise_compiler_error(
            "var as_of_date must be null or a date YYYY-MM-DD; got " ~ text ~ "." ~ fix) }}
    {%- endif -%}
    {{ return(text) }}
{%- endmacro %}

{#- The day segments are evaluated as of (a date): var as_of_date, else the UTC day of the
    data's end (macros/data_end.sql: the latest event of any source or app account
    change), never the wall clock. `persons`: a relation with dim_persons' columns. -#}
{% macro segments_as_of_date(persons) -%}
    {%- set as_of = journeys.segments_as_of_setting() -%}
    {%- if as_of is none -%}
        {{ journeys.retention_utc_date(journeys.data_end_at(persons)) }}
    {%- else -%}
        cast('{{ as_of }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- A date as a whole number of days since 1970-01-01 (day arithmetic and window frames
    on every engine). -#}
{% macro segments_day_number(day) -%}
    {{ journeys.retention_days_between("cast('1970-01-01' as date)", day) }}
{%- endmacro %}

{#- The date of a day number (the inverse of segments_day_number). -#}
{% macro segments_date_of(day_number) -%}
    {{ return(adapter.dispatch('segments_date_of', 'journeys')(day_number)) }}
{%- endmacro %}

{% macro default__segments_date_of(day_number) -%}
    cast(cast('1970-01-01' as date) + cast({{ day_number }} as integer) as date)
{%- endmacro %}

{% macro spark__segments_date_of(day_number) -%}
    date_add(cast('1970-01-01' as date), cast({{ day_number }} as integer))
{%- endmacro %}

{#- SEMANTICS.md's rules in order, first match wins. `is_churned`: churned_at on or before
    the evaluation day; `lifetime_events`: product events up to that day;
    `days_since_active`: whole days from the last product event's day to it (null without
    one: then only churned or dormant). -#}
{% macro segments_rule(settings, is_churned, lifetime_events, days_since_active) -%}
    case
        when {{ is_churned }} then 'churned'
        when
            {{ lifetime_events }} >= {{ settings.champion_min_events }}
            and {{ days_since_active }} <= {{ settings.champion_max_days }}
            then 'champion'
        when
            {{ lifetime_events }} >= {{ settings.power_user_min_events }}
            and {{ days_since_active }} <= {{ settings.power_user_max_days }}
            then 'power_user'
        when {{ days_since_active }} <= {{ settings.active_max_days }} then 'active'
        when {{ days_since_active }} <= {{ settings.at_risk_max_days }} then 'at_risk'
        else 'dormant'
    end
{%- endmacro %}
