{#-
    Time to convert as PostHog draws it (docs/funnels.md, "Time to convert"): per funnel
    and step k >= 2, a histogram of the seconds from step 1 to step k over the persons
    who reached step k, in their measured attempt, with bins chosen from the data (about
    the cube root of the number of persons, at most 60, whole seconds wide).
-#}
{%- set funnels = journeys.funnel_definitions() -%}
{%- set n = journeys.funnel_width(funnels) -%}
{#- the seconds from step 1 to step k of a person row, k the joined step's number -#}
{%- set seconds_to_step = [] -%}
{%- for k in range(2, n + 1) -%}
    {%- do seconds_to_step.append(
        'when ' ~ k ~ ' then '
        ~ journeys.seconds_between('persons.step_1_at', 'persons.step_' ~ k ~ '_at')) -%}
{%- endfor -%}
{%- if seconds_to_step -%}
    {%- set seconds_expression =
        'case steps.step_number ' ~ (seconds_to_step | join(' ')) ~ ' end' -%}
{%- else -%}
    {%- set seconds_expression = 'cast(null as ' ~ journeys.type_double() ~ ')' -%}
{%- endif %}

with

persons as (

    select * from {{ ref('fct_funnel_persons') }}

),

steps as (

    select * from {{ ref('fct_funnel_steps') }}

),

-- 0..60: the bins a histogram can have
bin_numbers as (

    {%- for i in range(0, 61) %}
        select {{ i }} as bin_number
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

later_steps as (

    select distinct
        funnel_name,
        step_number
    from steps
    where step_number > 1

),

-- one sample per person and step reached after the first: seconds from step 1
samples as (

    select
        persons.funnel_name,
        steps.step_number,
        {{ seconds_expression }} as seconds
    from persons
    inner join later_steps as steps
        on
            persons.funnel_name = steps.funnel_name
            and persons.furthest_step >= steps.step_number

),

ranges as (

    select
        funnel_name,
        step_number,
        count(*) as samples,
        floor(min(seconds)) as range_from,
        ceil(max(seconds)) as range_to,
        ceil(power(count(*), 1.0 / 3)) as cube_root_guess
    from samples
    group by funnel_name, step_number

),

-- bins: the smallest b with b * b * b >= samples (exactly: the floating cube root is
-- only a first guess), between 1 and 60; width: whole seconds, 60 when all are equal
bins as (

    select
        funnel_name,
        step_number,
        range_from,
        range_to,
        least(
            60,
            greatest(
                1,
                case
                    when
                        (cube_root_guess - 1) * (cube_root_guess - 1) * (cube_root_guess - 1)
                        >= samples
                        then cube_root_guess - 1
                    when cube_root_guess * cube_root_guess * cube_root_guess < samples
                        then cube_root_guess + 1
                    else cube_root_guess
                end
            )
        ) as bin_count
    from ranges

),

widths as (

    select
        *,
        case
            when ceil((range_to - range_from) / bin_count) = 0 then 60
            else ceil((range_to - range_from) / bin_count)
        end as bin_width
    from bins

),

counted as (

    select
        samples.funnel_name,
        samples.step_number,
        floor((samples.seconds - widths.range_from) / widths.bin_width) as bin_number,
        count(*) as persons
    from samples
    inner join widths
        on
            samples.funnel_name = widths.funnel_name
            and samples.step_number = widths.step_number
    group by
        samples.funnel_name,
        samples.step_number,
        floor((samples.seconds - widths.range_from) / widths.bin_width)

),

final as (

    select
        widths.funnel_name,
        cast(widths.step_number as integer) as step_number,
        cast(bin_numbers.bin_number as integer) as bin_number,
        cast(widths.range_from + bin_numbers.bin_number * widths.bin_width as bigint)
            as bin_from_seconds,
        cast(widths.range_from + (bin_numbers.bin_number + 1) * widths.bin_width as bigint)
            as bin_to_seconds,
        cast(coalesce(counted.persons, 0) as bigint) as persons
    from widths
    inner join bin_numbers on widths.bin_count >= bin_numbers.bin_number
    left join counted
        on
            widths.funnel_name = counted.funnel_name
            and widths.step_number = counted.step_number
            and bin_numbers.bin_number = counted.bin_number

)

select * from final
