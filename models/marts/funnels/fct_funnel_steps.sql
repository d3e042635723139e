{#-
    Step counts, rates and times of every configured funnel, per breakdown value
    (SEMANTICS.md, Funnels; docs/funnels.md, "Step counts and rates"). Counted from
    fct_funnel_persons, so the drill-down always gives persons_reached exactly.
-#}
{%- set funnels = journeys.funnel_definitions() -%}
{%- set n = journeys.funnel_width(funnels) -%}
{%- set double = journeys.type_double() %}

with

persons as (

    select * from {{ ref('fct_funnel_persons') }}

),

steps as (

    {%- if funnels %}
        {%- for f in funnels %}
            {%- set funnel = loop %}
            {%- for step in f.steps %}
                select
                    {{ journeys.text_literal(f.name) }} as funnel_name,
                    {{ loop.index }} as step_number,
                    {{ journeys.text_literal(step.event) }} as step_event,
                    {{ 'true' if f.breakdown_kind is none else 'false' }} as is_always_shown
                {%- if not (funnel.last and loop.last) %}
                    union all
                {%- endif %}
            {%- endfor %}
        {%- endfor %}
    {%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as funnel_name,
            1 as step_number,
            cast(null as {{ dbt.type_string() }}) as step_event,
            false as is_always_shown
        where false
    {%- endif %}

),

-- the breakdown values a funnel has rows for: its entrants' values; '(all)' always for a
-- funnel without breakdown, so it shows its steps even before anybody entered
breakdowns as (

    select distinct
        funnel_name,
        breakdown_value
    from persons

    union

    select distinct
        funnel_name,
        '(all)' as breakdown_value
    from steps
    where is_always_shown

),

-- one row per person and step they reached, with the seconds from the previous step of
-- their measured attempt
reached as (

    select
        persons.funnel_name,
        persons.breakdown_value,
        persons.person_id,
        steps.step_number,
        {%- if n > 1 %}
            case steps.step_number
                {%- for k in range(2, n + 1) %}
                    when {{ k }} then {{ journeys.seconds_between(
                        'persons.step_' ~ (k - 1) ~ '_at', 'persons.step_' ~ k ~ '_at') }}
                {%- endfor %}
            end as seconds_from_previous
        {%- else %}
            cast(null as {{ double }}) as seconds_from_previous
        {%- endif %}
    from persons
    inner join steps
        on
            persons.funnel_name = steps.funnel_name
            and persons.furthest_step >= steps.step_number

),

counted as (

    select
        funnel_name,
        breakdown_value,
        step_number,
        count(*) as persons_reached,
        {{ journeys.percentile_cont('seconds_from_previous', 0.5) }}
            as median_seconds_from_previous,
        avg(seconds_from_previous) as avg_seconds_from_previous,
        {{ journeys.percentile_cont('seconds_from_previous', 0.9) }} as p90_seconds_from_previous
    from reached
    group by funnel_name, breakdown_value, step_number

),

filled as (

    select
        steps.funnel_name,
        breakdowns.breakdown_value,
        steps.step_number,
        steps.step_event,
        coalesce(counted.persons_reached, 0) as persons_reached,
        counted.median_seconds_from_previous,
        counted.avg_seconds_from_previous,
        counted.p90_seconds_from_previous
    from steps
    inner join breakdowns on steps.funnel_name = breakdowns.funnel_name
    left join counted
        on
            steps.funnel_name = counted.funnel_name
            and breakdowns.breakdown_value = counted.breakdown_value
            and steps.step_number = counted.step_number

),

rated as (

    select
        *,
        lag(persons_reached) over (
            partition by funnel_name, breakdown_value order by step_number
        ) as previous_reached,
        first_value(persons_reached) over (
            partition by funnel_name, breakdown_value order by step_number
            rows between unbounded preceding and current row
        ) as first_reached
    from filled

),

final as (

    select
        funnel_name,
        breakdown_value,
        cast(step_number as integer) as step_number,
        step_event,
        cast(persons_reached as bigint) as persons_reached,
        case
            when step_number = 1 and persons_reached > 0 then cast(1.0 as {{ double }})
            when previous_reached > 0 then cast(persons_reached as {{ double }}) / previous_reached
        end as conversion_from_previous,
        case
            when first_reached > 0 then cast(persons_reached as {{ double }}) / first_reached
        end as conversion_from_first,
        cast(coalesce(previous_reached - persons_reached, 0) as bigint) as persons_dropped,
        cast(median_seconds_from_previous as {{ double }}) as median_seconds_from_previous,
        cast(avg_seconds_from_previous as {{ double }}) as avg_seconds_from_previous,
        cast(p90_seconds_from_previous as {{ double }}) as p90_seconds_from_previous
    from rated

)

select * from final
