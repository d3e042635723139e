{#-
    One row per funnel and person who entered it (docs/funnels.md): their furthest step
    over all attempts and the measured attempt's times, with their breakdown value.
    fct_funnel_steps counts these rows, so the drill-down and the counts always agree.
-#}
{%- set funnels = journeys.funnel_definitions() -%}
{%- set n = journeys.funnel_width(funnels) -%}
{%- set max_steps = journeys.funnel_max_steps() -%}
{%- set columns = funnels | selectattr('breakdown_kind', 'equalto', 'column')
    | map(attribute='breakdown_name') | unique | list -%}
{%- set strict = funnels | selectattr('order', 'equalto', 'strict')
    | map(attribute='name') | list -%}
{%- set timestamptz = journeys.type_timestamptz() %}

with

-- excluded attempts are dropped before anything is chosen (docs/funnels.md, Exclusions)
attempts as (

    select * from {{ ref('int_funnel__attempts') }}
    where not is_excluded

),

events as (

    select * from {{ ref('int_funnel__events') }}

),

persons as (

    select
        person_id
        {%- for column in columns -%}
            , cast({{ column }} as {{ dbt.type_string() }}) as breakdown_{{ column }}
        {%- endfor %}
    from {{ ref('dim_persons') }}

),

-- the furthest step of each person, and when each attempt reached it
ranked as (

    select
        *,
        max(steps_reached) over (partition by funnel_name, person_id) as furthest_step
    from attempts

),

-- the measured attempt: reaches the furthest step earliest, then started latest
measured as (

    select
        *,
        row_number() over (
            partition by funnel_name, person_id
            order by
                case furthest_step
                    {%- for k in range(1, n + 1) %}
                        when {{ k }} then step_{{ k }}_at
                    {%- endfor %}
                end,
                started_us desc
        ) as attempt_rank
    from ranked
    where steps_reached = furthest_step

),

best as (

    select * from measured
    where attempt_rank = 1

),

-- an event property's value on each instant of the events a breakdown reads: those
-- matching a step (every event of the person, strict funnels)
touches as (

    select
        funnel_name,
        person_id,
        occurred_us,
        occurred_at,
        min(property_value) as property_value
    from events
    where
        property_value is not null
        and (is_step or funnel_name in {{ journeys.funnel_names_in(strict) }})
    group by funnel_name, person_id, occurred_us, occurred_at

),

first_last_touch as (

    select
        funnel_name,
        person_id,
        min(case when touch_from_start = 1 then property_value end) as first_touch,
        min(case when touch_from_end = 1 then property_value end) as last_touch
    from (
        select
            *,
            row_number() over (
                partition by funnel_name, person_id order by occurred_us
            ) as touch_from_start,
            row_number() over (
                partition by funnel_name, person_id order by occurred_us desc
            ) as touch_from_end
        from touches
    ) as numbered
    group by funnel_name, person_id

),

-- step attribution: the value on an event that fills step N, at the instant N was reached
step_touch as (

    select
        best.funnel_name,
        best.person_id,
        min(events.property_value) as step_value
    from best
    inner join events
        on
            best.funnel_name = events.funnel_name
            and best.person_id = events.person_id
    {%- set pairs = [] %}
    {%- for f in funnels if f.attribution == 'step' and f.breakdown_kind == 'event_property' %}
        {%- do pairs.append((f.name,
            'events.occurred_at = best.step_' ~ f.attribution_step ~ '_at and '
            ~ ('events.is_step' if f.order == 'unordered' else 'events.m_' ~ f.attribution_step)
        )) %}
    {%- endfor %}
    where {{ journeys.funnel_switch('best.funnel_name', pairs, 'false') }}
    group by best.funnel_name, best.person_id

),

final as (

    select
        best.funnel_name,
        {%- set pairs = [] %}
        {%- for f in funnels %}
            {%- if f.breakdown_kind is none %}
                {%- do pairs.append((f.name, "'(all)'")) %}
            {%- elif f.breakdown_kind == 'column' %}
                {%- do pairs.append((f.name, 'persons.breakdown_' ~ f.breakdown_name)) %}
            {%- elif f.attribution == 'step' %}
                {%- do pairs.append((f.name, 'step_touch.step_value')) %}
            {%- elif f.attribution == 'last_touch' %}
                {%- do pairs.append((f.name, 'first_last_touch.last_touch')) %}
            {%- else %}
                {%- do pairs.append((f.name, 'first_last_touch.first_touch')) %}
            {%- endif %}
        {%- endfor %}
        coalesce(
            nullif({{ journeys.funnel_switch('best.funnel_name', pairs) }}, ''), '(none)'
        ) as breakdown_value,
        best.person_id,
        best.started_at as entered_at,
        cast(best.furthest_step as integer) as furthest_step,
        {%- set pairs = [] %}
        {%- for f in funnels %}{% do pairs.append((f.name, f.steps | length)) %}{% endfor %}
        {%- set funnel_steps = journeys.funnel_switch('best.funnel_name', pairs) %}
        cast({{ funnel_steps }} as integer) as funnel_steps,
        best.furthest_step = {{ funnel_steps }} as is_converted,
        {#- the steps the configured funnels have, then null up to funnel_max_steps #}
        {%- for k in range(1, n + 1) %}
            best.step_{{ k }}_at{% if k < max_steps %},{% endif %}
        {%- endfor %}
        {%- for k in range(n + 1, max_steps + 1) %}
            cast(null as {{ timestamptz }}) as step_{{ k }}_at{% if not loop.last %},{% endif %}
        {%- endfor %}
    from best
    left join persons on best.person_id = persons.person_id
    left join first_last_touch
        on
            best.funnel_name = first_last_touch.funnel_name
            and best.person_id = first_last_touch.person_id
    left join step_touch
        on
            best.funnel_name = step_touch.funnel_name
            and best.person_id = step_touch.person_id

)

select * from final
