{#-
    The events every configured funnel looks at, read from fct_events in one pass
    (docs/funnels.md, "Which events a funnel sees"): per funnel, the counted events in its
    date range that match one of its steps (every event of the person for a strict
    funnel, whose order any event can break), with which steps each one matches.
-#}
{%- set funnels = journeys.funnel_definitions() -%}
{%- set max_steps = journeys.funnel_width(funnels) -%}
{%- set max_exclusions = (
    [0] + funnels | map(attribute='exclusions') | map('length') | list) | max -%}
{%- set person_columns = [] -%}
{%- for f in funnels -%}
    {%- for step in f.steps -%}
        {%- for column in step.where_person.keys() if column not in person_columns -%}
            {%- do person_columns.append(column) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endfor %}

with

events as (

    select
        event_id,
        person_id,
        event_name,
        occurred_at,
        properties
    from {{ ref('fct_events') }}
    where is_counted

),

persons as (

    select
        person_id
        {%- for column in person_columns -%}
            , {{ column }} as person_{{ column }}
        {%- endfor %}
    from {{ ref('dim_persons') }}

),

funnels as (

    {%- if funnels %}
        {%- for f in funnels %}
            select {{ journeys.text_literal(f.name) }} as funnel_name
            {%- if not loop.last %}
                union all
            {%- endif %}
        {%- endfor %}
    {%- else %}
        select cast(null as {{ dbt.type_string() }}) as funnel_name
    {%- endif %}

),

-- each event once per funnel, with the steps it matches (m_k) and, for a breakdown by
-- an event property, the property's value
matched as (

    select
        funnels.funnel_name,
        events.event_id,
        events.person_id,
        events.event_name,
        events.occurred_at,
        {{ journeys.epoch_us('events.occurred_at') }} as occurred_us,
        {%- for k in range(1, max_steps + 1) %}
            {%- set pairs = [] %}
            {%- for f in funnels if f.steps | length >= k %}
                {%- do pairs.append((f.name, journeys.funnel_step_predicate(f.steps[k - 1]))) %}
            {%- endfor %}
            {{ journeys.funnel_switch('funnels.funnel_name', pairs, 'false') }} as m_{{ k }},
        {%- endfor %}
        {%- for e in range(1, max_exclusions + 1) %}
            {%- set pairs = [] %}
            {%- for f in funnels if f.exclusions | length >= e %}
                {%- do pairs.append(
                    (f.name, journeys.funnel_step_predicate(f.exclusions[e - 1]))) %}
            {%- endfor %}
            {{ journeys.funnel_switch('funnels.funnel_name', pairs, 'false') }} as x_{{ e }},
        {%- endfor %}
        {%- set pairs = [] %}
        {%- for f in funnels if f.breakdown_kind == 'event_property' %}
            {%- do pairs.append(
                (f.name, journeys.json_text('events.properties', f.breakdown_name))) %}
        {%- endfor %}
        {%- set no_value = 'cast(null as ' ~ dbt.type_string() ~ ')' %}
        {{ journeys.funnel_switch('funnels.funnel_name', pairs, no_value) }} as property_value
    from events
    cross join funnels
    left join persons on events.person_id = persons.person_id
    where funnels.funnel_name is not null

),

-- the funnel's date range (inclusive dates, UTC), then what the funnel needs
final as (

    select
        funnel_name,
        event_id,
        person_id,
        event_name,
        occurred_at,
        occurred_us,
        {%- for k in range(1, max_steps + 1) %}
            coalesce(m_{{ k }}, false) as m_{{ k }},
        {%- endfor %}
        coalesce({{ journeys.funnel_terms(range(1, max_steps + 1), 'm_') }}, false) as is_step,
        {%- for e in range(1, max_exclusions + 1) %}
            coalesce(x_{{ e }}, false) as x_{{ e }},
        {%- endfor %}
        property_value
    from matched
    {%- set pairs = [] %}
    {%- for f in funnels %}
        {%- set conditions = [] %}
        {%- if f.date_from_us is not none %}
            {%- do conditions.append('occurred_us >= ' ~ f.date_from_us) %}
        {%- endif %}
        {%- if f.date_to_us is not none %}
            {%- do conditions.append('occurred_us < ' ~ f.date_to_us) %}
        {%- endif %}
        {%- if f.order != 'strict' %}
            {%- set any_step = [] %}
            {%- for k in range(1, (f.steps | length) + 1) %}
                {%- do any_step.append('m_' ~ k) %}
            {%- endfor %}
            {%- for e in range(1, (f.exclusions | length) + 1) %}
                {%- do any_step.append('x_' ~ e) %}
            {%- endfor %}
            {%- do conditions.append('(' ~ (any_step | join(' or ')) ~ ')') %}
        {%- endif %}
        {%- do pairs.append((f.name, (conditions | join(' and ')) or 'true')) %}
    {%- endfor %}
    where {{ journeys.funnel_switch('funnel_name', pairs, 'false') }}

)

select * from final
