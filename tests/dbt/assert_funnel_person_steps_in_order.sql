{#- Each fct_funnel_persons row is consistent: furthest_step within the funnel, every
    step up to it reached and none after, the times never decreasing, entered_at the
    step-1 time. Returns the rows that break one of these. -#}
{%- set n = journeys.funnel_max_steps() %}

with

persons as (

    select * from {{ ref('fct_funnel_persons') }}

),

final as (

    select * from persons
    where
        furthest_step < 1
        or furthest_step > funnel_steps
        or is_converted != (furthest_step = funnel_steps)
        or entered_at != step_1_at
        {%- for k in range(1, n + 1) %}
            or (step_{{ k }}_at is null) != ({{ k }} > furthest_step)
        {%- endfor %}
        {%- for k in range(2, n + 1) %}
            or step_{{ k }}_at < step_{{ k - 1 }}_at
        {%- endfor %}

)

-- AM04: the test returns whole fct_funnel_persons rows, whatever their columns
select * from final  -- noqa: AM04
