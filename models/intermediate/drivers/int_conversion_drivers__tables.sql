{#-
    SEMANTICS.md's conversion drivers, per candidate behaviour: its 2x2 table among the
    persons whose trial outcome is decided, the rates, the lift, the odds ratio with its
    95% interval and the Wald test's p-value. fct_conversion_drivers adds what compares
    candidates with each other (q_value, rank). fct_events is read once, for every
    candidate (docs/conversion_drivers.md has every rule).
-#}

{%- set settings = journeys.conversion_drivers_settings() -%}
{%- set window_us = settings.window_days * 86400 * 1000000 -%}
{%- set double = journeys.type_double() -%}

with

events as (

    select * from {{ ref('fct_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

tracking_plan as (

    select * from {{ ref('tracking_plan') }}

),

-- candidates: the plan's events that are sent today or still sent (active, deprecated),
-- except the events that record the outcome itself (var conversion_drivers_outcome_events)
candidates as (

    select distinct event_name as behaviour_event
    from tracking_plan
    where
        status in ({{ journeys.retention_text_list(journeys.conversion_drivers_plan_statuses()) }})
        {%- if settings.outcome_events %}
            and event_name not in ({{ journeys.retention_text_list(settings.outcome_events) }})
        {%- endif %}

),

-- the persons whose trial outcome is decided: converted, churned or expired (not
-- in_trial, and signed up: the others have no outcome)
population as (

    select
        person_id,
        {{ journeys.epoch_us('signed_up_at') }} as signed_up_us,
        trial_outcome = 'converted' as is_converted

    from persons
    where trial_outcome in ('converted', 'churned', 'expired_trial')

),

population_size as (

    select
        count(*) as persons,
        count(case when is_converted then 1 end) as converted

    from population

),

-- who did each candidate in their first D days: a counted event (a PostHog copy of an app
-- event is the same occurrence) at or after signup and at most D days after it (both ends
-- inclusive); the one read of fct_events
behaviours as (

    select distinct
        events.event_name as behaviour_event,
        population.person_id,
        population.is_converted

    from events
    inner join population on events.person_id = population.person_id
    inner join candidates on events.event_name = candidates.behaviour_event
    where
        events.is_counted
        and {{ journeys.epoch_us('events.occurred_at') }} >= population.signed_up_us
        and {{ journeys.epoch_us('events.occurred_at') }}
        <= population.signed_up_us + {{ window_us }}

),

behaviour_counts as (

    select
        behaviour_event,
        count(*) as persons_with,
        count(case when is_converted then 1 end) as converted_with

    from behaviours
    group by behaviour_event

),

-- every candidate's 2x2 table, nobody with it included: a = converted_with, b = the
-- others with it, c = converted_without, d = the others without it
counts as (

    select
        candidates.behaviour_event,
        cast(coalesce(behaviour_counts.persons_with, 0) as bigint) as persons_with,
        cast(coalesce(behaviour_counts.converted_with, 0) as bigint) as converted_with,
        cast(population_size.persons - coalesce(behaviour_counts.persons_with, 0) as bigint)
            as persons_without,
        cast(population_size.converted - coalesce(behaviour_counts.converted_with, 0) as bigint)
            as converted_without

    from candidates
    cross join population_size
    left join behaviour_counts on candidates.behaviour_event = behaviour_counts.behaviour_event

),

-- the cells the odds ratio is computed from, when both groups have persons: 0.5 added to
-- every cell when any cell is 0 (SEMANTICS.md), so the ratio and its interval are finite
cells as (

    select
        *,
        cast(converted_with as {{ double }})
        + case when has_zero_cell then 0.5 else 0.0 end as cell_a,
        cast(persons_with - converted_with as {{ double }})
        + case when has_zero_cell then 0.5 else 0.0 end as cell_b,
        cast(converted_without as {{ double }})
        + case when has_zero_cell then 0.5 else 0.0 end as cell_c,
        cast(persons_without - converted_without as {{ double }})
        + case when has_zero_cell then 0.5 else 0.0 end as cell_d

    from (
        select
            *,
            converted_with = 0
            or persons_with = converted_with
            or converted_without = 0
            or persons_without = converted_without as has_zero_cell

        from counts
    ) as flagged

),

-- ln OR and its standard error (Woolf): sqrt(1/a + 1/b + 1/c + 1/d)
log_odds as (

    select
        *,
        case
            when persons_with > 0 and persons_without > 0
                then ln((cell_a * cell_d) / (cell_b * cell_c))
        end as ln_odds_ratio,
        case
            when persons_with > 0 and persons_without > 0
                then sqrt(1.0 / cell_a + 1.0 / cell_b + 1.0 / cell_c + 1.0 / cell_d)
        end as ln_odds_ratio_se

    from cells

),

-- the Wald test of ln OR = 0: |z| / sqrt 2 and erfc's t, for the two-sided p-value
wald as (

    select
        *,
        1.0 / (1.0 + 0.5 * z_over_root2) as erfc_t

    from (
        select
            *,
            abs(ln_odds_ratio) / ln_odds_ratio_se / sqrt(2.0) as z_over_root2

        from log_odds
    ) as scaled

),

final as (

    select
        behaviour_event,
        cast({{ settings.window_days }} as bigint) as window_days,
        persons_with,
        converted_with,
        case
            when persons_with > 0
                then cast(converted_with as {{ double }}) / cast(persons_with as {{ double }})
        end as rate_with,
        persons_without,
        converted_without,
        case
            when persons_without > 0
                then
                    cast(converted_without as {{ double }})
                    / cast(persons_without as {{ double }})
        end as rate_without,
        -- rate_with / rate_without: null when either is unknown or nobody without converted
        case
            when persons_with > 0 and converted_without > 0
                then
                    (cast(converted_with as {{ double }}) / cast(persons_with as {{ double }}))
                    / (
                        cast(converted_without as {{ double }})
                        / cast(persons_without as {{ double }})
                    )
        end as lift,
        case
            when ln_odds_ratio is not null then (cell_a * cell_d) / (cell_b * cell_c)
        end as odds_ratio,
        exp(ln_odds_ratio - 1.96 * ln_odds_ratio_se) as odds_ratio_ci_low,
        exp(ln_odds_ratio + 1.96 * ln_odds_ratio_se) as odds_ratio_ci_high,
        -- (the fit gives 1.00000003 at z = 0: a p-value is at most 1)
        case
            when ln_odds_ratio is not null
                then least(1.0, {{ journeys.conversion_drivers_erfc('z_over_root2', 'erfc_t') }})
        end as p_value

    from wald

)

select * from final
