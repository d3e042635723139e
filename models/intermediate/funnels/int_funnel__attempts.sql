{#-
    Every attempt of every funnel (docs/funnels.md): where it started, how many steps it
    reaches and when it reaches each. An attempt moves from instant to instant, at most
    one move per step, so the funnel's steps bound the rounds below.
    - ordered: fill as many steps as the instant allows, then jump to the first later
      instant that can fill the next step;
    - strict: carry every step count the attempt can stand at (lvl_k), move to the
      person's very next instant;
    - unordered: per starting instant, the most steps distinct events can fill in
      [start, start + window], and when each count is first reached.
-#}
{%- set funnels = journeys.funnel_definitions() -%}
{%- set n = journeys.funnel_width(funnels) -%}
{%- set max_constraints = (
    [1] + funnels | map(attribute='constraints') | map('length') | list) | max -%}
{%- set ordered_funnels = funnels | selectattr('order', 'equalto', 'ordered') | list -%}
{%- set strict_funnels = funnels | selectattr('order', 'equalto', 'strict') | list -%}
{%- set ordered = ordered_funnels | map(attribute='name') | list -%}
{%- set strict = strict_funnels | map(attribute='name') | list -%}
{%- set unordered = funnels | selectattr('order', 'equalto', 'unordered') | list -%}
{%- set max_exclusions = (
    [0] + funnels | map(attribute='exclusions') | map('length') | list) | max -%}
{#- rounds: one move per step after the first, for the longest funnel of the order -#}
{%- set ordered_rounds = journeys.funnel_width(ordered_funnels) - 1 -%}
{%- set strict_rounds = journeys.funnel_width(strict_funnels) - 1 -%}

with

instants as (

    select * from {{ ref('int_funnel__instants') }}

),

-- ordered funnels ---------------------------------------------------------------------
ordered_0 as (

    select
        funnel_name,
        person_id,
        occurred_us as started_us,
        occurred_at as started_at,
        window_us,
        fill_1 as reached,
        {%- for k in range(1, n + 1) %}
            case when fill_1 >= {{ k }} then occurred_at end as step_{{ k }}_at,
        {%- endfor %}
        {%- if n > 1 %}
            case fill_1
                {%- for s in range(1, n) %}
                    when {{ s }} then next_{{ s + 1 }}_us
                {%- endfor %}
            end as next_us
        {%- else %}
            cast(null as bigint) as next_us
        {%- endif %}
    from instants
    where fill_1 > 0 and funnel_name in {{ journeys.funnel_names_in(ordered) }}

),

{% for r in range(1, ordered_rounds + 1) %}
    ordered_{{ r }}_joined as (

        select
            a.*,
            i.occurred_at as at_instant,
            {%- for s in range(2, n + 1) %}
                i.next_{{ s }}_us as i_next_{{ s }}_us,
            {%- endfor %}
            coalesce({{ journeys.funnel_gain('a.reached', n) | indent(12) }}, 0) as gained
        from ordered_{{ r - 1 }} as a
        left join instants as i
            on
                a.funnel_name = i.funnel_name
                and a.person_id = i.person_id
                -- the window test inside the key: a condition on `a` alone in a left
                -- join's ON sends DuckDB to a nested-loop join (quadratic; 176 s at 10M
                -- events); null never equals, so an instant past the window joins nothing
                and i.occurred_us = case
                    when a.next_us <= a.started_us + a.window_us then a.next_us
                end

    ),

    ordered_{{ r }} as (

        select
            funnel_name,
            person_id,
            started_us,
            started_at,
            window_us,
            reached + gained as reached,
            {%- for k in range(1, n + 1) %}
                coalesce(
                    step_{{ k }}_at,
                    case when reached < {{ k }} and reached + gained >= {{ k }} then at_instant end
                ) as step_{{ k }}_at,
            {%- endfor %}
            case
                when gained > 0 then
                    case reached + gained
                        {%- for s in range(1, n) %}
                            when {{ s }} then i_next_{{ s + 1 }}_us
                        {%- endfor %}
                    end
            end as next_us
        from ordered_{{ r }}_joined

    ),
{% endfor %}

-- strict funnels ----------------------------------------------------------------------
strict_0 as (

    select
        funnel_name,
        person_id,
        occurred_us as started_us,
        occurred_at as started_at,
        window_us,
        {%- for k in range(1, n + 1) %}
            fill_1 >= {{ k }} as lvl_{{ k }},
            case when fill_1 >= {{ k }} then occurred_at end as step_{{ k }}_at,
        {%- endfor %}
        next_us
    from instants
    where fill_1 > 0 and funnel_name in {{ journeys.funnel_names_in(strict) }}

),

{% for r in range(1, strict_rounds + 1) %}
    strict_{{ r }}_joined as (

        select
            a.funnel_name,
            a.person_id,
            a.started_us,
            a.started_at,
            a.window_us,
            i.occurred_at as at_instant,
            i.next_us as i_next_us,
            {%- for k in range(1, n + 1) %}
                a.step_{{ k }}_at,
            {%- endfor %}
            {%- for k in range(1, n + 1) %}
                coalesce(
                    {{ journeys.funnel_strict_level(k) }},
                    false
                ) as lvl_{{ k }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from strict_{{ r - 1 }} as a
        left join instants as i
            on
                a.funnel_name = i.funnel_name
                and a.person_id = i.person_id
                -- the window test inside the key: a condition on `a` alone in a left
                -- join's ON sends DuckDB to a nested-loop join (quadratic; 176 s at 10M
                -- events); null never equals, so an instant past the window joins nothing
                and i.occurred_us = case
                    when a.next_us <= a.started_us + a.window_us then a.next_us
                end

    ),

    strict_{{ r }} as (

        select
            funnel_name,
            person_id,
            started_us,
            started_at,
            window_us,
            {%- for k in range(1, n + 1) %}
                lvl_{{ k }},
                coalesce(
                    step_{{ k }}_at, case when lvl_{{ k }} then at_instant end
                ) as step_{{ k }}_at,
            {%- endfor %}
            case
                when {{ journeys.funnel_terms(range(1, n + 1), 'lvl_') }} then i_next_us
            end as next_us
        from strict_{{ r }}_joined

    ),
{% endfor %}

-- unordered funnels -------------------------------------------------------------------
-- every instant in [start, start + window] of every starting instant, with running
-- counts of the matching constraints (macros/funnels.sql)
unordered_pairs as (

    select
        a.funnel_name,
        a.person_id,
        a.occurred_us as started_us,
        a.occurred_at as started_at,
        a.window_us,
        i.occurred_us,
        i.occurred_at,
        {%- for c in range(1, max_constraints + 1) %}
            sum(i.h_{{ c }}) over (
                partition by a.funnel_name, a.person_id, a.occurred_us
                order by i.occurred_us
                rows between unbounded preceding and current row
            ) as ch_{{ c }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from instants as a
    inner join instants as i
        on
            a.funnel_name = i.funnel_name
            and a.person_id = i.person_id
            and a.occurred_us <= i.occurred_us
            and i.occurred_us <= a.occurred_us + a.window_us
    where
        a.funnel_name in {{ journeys.funnel_names_in(unordered | map(attribute='name') | list) }}
        and ({{ journeys.funnel_terms(range(1, n + 1), 'a.fill_', ' > 0') }})

),

unordered_sized as (

    select
        funnel_name,
        person_id,
        started_us,
        started_at,
        window_us,
        occurred_at,
        {%- set pairs = [] %}
        {%- for f in unordered %}
            {%- do pairs.append((f.name, journeys.funnel_matching_size(f, 'ch_'))) %}
        {%- endfor %}
        {#- RF04: `matched` is a keyword only in MERGE statements #}
        {{ journeys.funnel_switch('funnel_name', pairs, '0') }} as matched  -- noqa: RF04
    from unordered_pairs

),

unordered_attempts as (

    select
        funnel_name,
        person_id,
        started_us,
        started_at,
        window_us,
        cast(max(matched) as integer) as reached,
        {%- for k in range(1, n + 1) %}
            min(
                case when matched >= {{ k }} then occurred_at end
            ) as step_{{ k }}_at{% if not loop.last %},{% endif %}
        {%- endfor %}
    from unordered_sized
    group by funnel_name, person_id, started_us, started_at, window_us

),

-- all attempts, one shape ---------------------------------------------------------------
attempts as (

    select
        funnel_name,
        person_id,
        started_at,
        started_us,
        window_us,
        cast(reached as integer) as steps_reached,
        {%- for k in range(1, n + 1) %}
            step_{{ k }}_at{% if not loop.last %},{% endif %}
        {%- endfor %}
    from ordered_{{ ordered_rounds }}

    union all

    select
        funnel_name,
        person_id,
        started_at,
        started_us,
        window_us,
        cast(
            case
                {%- for k in range(n, 0, -1) %}
                    when step_{{ k }}_at is not null then {{ k }}
                {%- endfor %}
            end as integer
        ) as steps_reached,
        {%- for k in range(1, n + 1) %}
            step_{{ k }}_at{% if not loop.last %},{% endif %}
        {%- endfor %}
    from strict_{{ strict_rounds }}

    union all

    select
        funnel_name,
        person_id,
        started_at,
        started_us,
        window_us,
        reached as steps_reached,
        {%- for k in range(1, n + 1) %}
            step_{{ k }}_at{% if not loop.last %},{% endif %}
        {%- endfor %}
    from unordered_attempts

),

-- exclusions (docs/funnels.md): an attempt that reached step i is excluded by an
-- exclusion event strictly after step i and strictly before step j, or up to the end of
-- its window when it never reached step j
exclusion_events as (

    select * from {{ ref('int_funnel__events') }}
    where {% for e in range(1, max_exclusions + 1) %}x_{{ e }} or {% endfor %}false

),

excluded as (

    select distinct
        attempts.funnel_name,
        attempts.person_id,
        attempts.started_us
    from attempts
    inner join exclusion_events as x
        on
            attempts.funnel_name = x.funnel_name
            and attempts.person_id = x.person_id
    {%- set pairs = [] %}
    {%- for f in funnels if f.exclusions %}
        {%- set rules = [] %}
        {%- for e in f.exclusions %}
            {%- do rules.append(
                '(x.x_' ~ loop.index ~ ' and attempts.steps_reached >= ' ~ e.from_step
                ~ ' and x.occurred_at > attempts.step_' ~ e.from_step ~ '_at'
                ~ ' and case when attempts.steps_reached >= ' ~ e.to_step
                ~ ' then x.occurred_at < attempts.step_' ~ e.to_step ~ '_at'
                ~ ' else x.occurred_us <= attempts.started_us + attempts.window_us end)') %}
        {%- endfor %}
        {%- do pairs.append((f.name, rules | join(' or '))) %}
    {%- endfor %}
    where {{ journeys.funnel_switch('attempts.funnel_name', pairs, 'false') }}

),

final as (

    select
        attempts.*,
        excluded.started_us is not null as is_excluded
    from attempts
    left join excluded
        on
            attempts.funnel_name = excluded.funnel_name
            and attempts.person_id = excluded.person_id
            and attempts.started_us = excluded.started_us

)

select * from final
