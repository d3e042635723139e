{#-
    SEMANTICS.md's conversion drivers: which early behaviours go with conversion, and how
    sure we are. The per-candidate statistics come from int_conversion_drivers__tables
    (one read of fct_events); here the candidates are compared with each other: the
    Benjamini-Hochberg q_value across every candidate with a p-value, and the rank of those
    with enough support (docs/conversion_drivers.md).
-#}

{%- set settings = journeys.conversion_drivers_settings() -%}

with

tables as (

    select * from {{ ref('int_conversion_drivers__tables') }}

),

-- the candidates with a test (both groups have persons), in order of p-value; ties in
-- order of name, so the step-up below walks one fixed order
tested as (

    select
        behaviour_event,
        p_value,
        row_number() over (order by p_value, behaviour_event) as p_order,
        count(*) over () as tests

    from tables
    where p_value is not null

),

-- Benjamini-Hochberg step-up: q(i) = min over j >= i of p(j) * m / j, at most 1, where
-- p(1) <= ... <= p(m) are the m tested candidates' p-values (so q never decreases with p,
-- and equal p-values get equal q-values)
q_values as (

    select
        behaviour_event,
        least(
            1.0,
            min(p_value * tests / p_order) over (
                order by p_value desc, behaviour_event desc
                rows between unbounded preceding and current row
            )
        ) as q_value

    from tested

),

-- ranked: tested, and at least conversion_drivers_min_support persons on each side
flagged as (

    select
        tables.*,
        q_values.q_value,
        coalesce(q_values.q_value <= {{ settings.alpha }}, false) as is_significant,
        tables.p_value is not null
        and tables.persons_with >= {{ settings.min_support }}
        and tables.persons_without >= {{ settings.min_support }} as is_ranked

    from tables
    left join q_values on tables.behaviour_event = q_values.behaviour_event

),

-- rank 1 is the strongest evidence of an association: smallest q_value, then smallest
-- p_value, then the larger lift, then the name
ranks as (

    select
        behaviour_event,
        row_number() over (
            order by q_value asc, p_value asc, lift desc nulls last, behaviour_event asc
        ) as driver_rank

    from flagged
    where is_ranked

),

final as (

    select
        flagged.behaviour_event,
        flagged.window_days,
        flagged.persons_with,
        flagged.converted_with,
        flagged.rate_with,
        flagged.persons_without,
        flagged.converted_without,
        flagged.rate_without,
        flagged.lift,
        flagged.odds_ratio,
        flagged.odds_ratio_ci_low,
        flagged.odds_ratio_ci_high,
        flagged.p_value,
        flagged.q_value,
        flagged.is_significant,
        flagged.is_ranked,
        cast(ranks.driver_rank as bigint) as rank

    from flagged
    left join ranks on flagged.behaviour_event = ranks.behaviour_event

)

select * from final
