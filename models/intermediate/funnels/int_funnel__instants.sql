{#-
    One row per funnel, person and instant (their events at one `occurred_at`; docs/
    funnels.md): how many steps the instant's events can fill from each step on (a
    matching: one event fills one step), and where the next useful instant is. Only
    persons who enter the funnel (an event matching step 1; any step when unordered).
-#}
{%- set funnels = journeys.funnel_definitions() -%}
{%- set max_steps = journeys.funnel_width(funnels) -%}
{%- set max_constraints = (
    [1] + funnels | map(attribute='constraints') | map('length') | list) | max %}

with

events as (

    select * from {{ ref('int_funnel__events') }}

),

entrants as (

    select distinct
        funnel_name,
        person_id
    from events
    {%- set pairs = [] %}
    {%- for f in funnels %}
        {%- do pairs.append((f.name, 'is_step' if f.order == 'unordered' else 'm_1')) %}
    {%- endfor %}
    where {{ journeys.funnel_switch('funnel_name', pairs, 'false') }}

),

-- per instant, for each constraint of the funnel (macros/funnels.sql), how many of its
-- events match one of the constraint's steps
counted as (

    {%- if funnels %}
        {%- for f in funnels %}
            select
                funnel_name,
                person_id,
                occurred_us,
                min(occurred_at) as occurred_at,
                {{ f.window_us }} as window_us,
                {%- for c in range(1, max_constraints + 1) %}
                    {{ journeys.funnel_constraint_count(f, c) }} as h_{{ c }}
                    {%- if not loop.last %},{% endif %}
                {%- endfor %}
            from events
            where funnel_name = {{ journeys.text_literal(f.name) }}
            group by funnel_name, person_id, occurred_us
            {%- if not loop.last %}
                union all
            {%- endif %}
        {%- endfor %}
    {%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as funnel_name,
            cast(null as {{ dbt.type_string() }}) as person_id,
            cast(null as bigint) as occurred_us,
            cast(null as {{ journeys.type_timestamptz() }}) as occurred_at,
            cast(null as bigint) as window_us,
            cast(0 as bigint) as h_1
        where false
    {%- endif %}

),

-- fill_k: how many steps, from step k on, the instant's events can fill
filled as (

    select
        counted.*,
        {%- for k in range(1, max_steps + 1) %}
            {%- set pairs = [] %}
            {%- for f in funnels if f.steps | length >= k %}
                {%- do pairs.append((f.name, journeys.funnel_fill(f, k) | indent(16))) %}
            {%- endfor %}
            {{ journeys.funnel_switch('counted.funnel_name', pairs, '0') }} as fill_{{ k }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from counted
    inner join entrants
        on
            counted.funnel_name = entrants.funnel_name
            and counted.person_id = entrants.person_id

),

-- next_k_us: the first later instant that can fill step k (ordered funnels);
-- next_us: the person's very next instant (strict funnels)
final as (

    select
        *,
        {%- for k in range(2, max_steps + 1) %}
            min(case when fill_{{ k }} > 0 then occurred_us end) over (
                partition by funnel_name, person_id order by occurred_us
                rows between 1 following and unbounded following
            ) as next_{{ k }}_us,
        {%- endfor %}
        lead(occurred_us) over (
            partition by funnel_name, person_id order by occurred_us
        ) as next_us
    from filled

)

select * from final
