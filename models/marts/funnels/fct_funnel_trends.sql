{#-
    Funnel conversion over time (docs/funnels.md, "Trends"): per funnel, breakdown value
    and entry period (UTC day, ISO week), the persons who entered in it and how many of
    them converted in an attempt that started in it. A person counts in every period
    they entered in. A period is complete when every attempt that could start in it has
    had its whole window before the data's end (or the funnel's date_to).
-#}
{%- set funnels = journeys.funnel_definitions() -%}
{%- set date_to_pairs = [] -%}
{%- for f in funnels if f.date_to_us is not none -%}
    {%- do date_to_pairs.append((f.name, f.date_to_us)) -%}
{%- endfor %}

with

attempts as (

    select * from {{ ref('int_funnel__attempts') }}
    where not is_excluded

),

persons as (

    select * from {{ ref('fct_funnel_persons') }}

),

dim_persons as (

    select * from {{ ref('dim_persons') }}

),

periods as (

    select
        'day' as period,
        cast(86400000000 as bigint) as period_us
    union all
    select
        'week' as period,
        cast(604800000000 as bigint) as period_us

),

-- the end of what a funnel can observe: the data's end, or the end of its date range
ends as (

    select
        cast({{ journeys.funnel_switch('persons.funnel_name', date_to_pairs) }} as bigint)
            as date_to_us,
        {{ journeys.epoch_us(journeys.data_end_at('dim_persons')) }} as data_end_us,
        persons.funnel_name
    from (select distinct funnel_name from persons) as persons

),

entries as (

    select
        attempts.funnel_name,
        persons.breakdown_value,
        attempts.person_id,
        periods.period,
        periods.period_us,
        attempts.window_us,
        {{ journeys.retention_period_start(
            'periods.period', journeys.retention_utc_date('attempts.started_at')) }}
            as period_start,
        attempts.steps_reached = persons.funnel_steps as is_converted
    from attempts
    inner join persons
        on
            attempts.funnel_name = persons.funnel_name
            and attempts.person_id = persons.person_id
    cross join periods

),

counted as (

    select
        funnel_name,
        breakdown_value,
        period,
        period_start,
        max(period_us) as period_us,
        max(window_us) as window_us,
        count(distinct person_id) as persons_entered,
        count(distinct case when is_converted then person_id end) as persons_converted
    from entries
    group by funnel_name, breakdown_value, period, period_start

),

final as (

    select
        counted.funnel_name,
        counted.breakdown_value,
        counted.period,
        counted.period_start,
        cast(counted.persons_entered as bigint) as persons_entered,
        cast(counted.persons_converted as bigint) as persons_converted,
        cast(counted.persons_converted as {{ journeys.type_double() }})
        / counted.persons_entered as conversion_rate,
        {{ journeys.epoch_us('cast(counted.period_start as timestamp)') }}
        + counted.period_us + counted.window_us
        <= coalesce(least(ends.date_to_us, ends.data_end_us), ends.data_end_us)
            as is_complete
    from counted
    inner join ends on counted.funnel_name = ends.funnel_name

)

select * from final
