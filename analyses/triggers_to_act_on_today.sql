-- Example analyst query: today's work list from fct_intervention_triggers, per action
-- (csm, in_app, email, ...): who matches which rule, how long they have matched, and
-- their trial outcome and plan from dim_persons, the newest matches first (the freshest
-- nudges work best). "Today" is the data's end, so the list is reproducible.
-- Compile with `dbt compile`, or paste into `duckdb data/warehouse.duckdb` using
-- marts.fct_intervention_triggers and marts.dim_persons in place of the refs.
with

triggers as (

    select * from {{ ref('fct_intervention_triggers') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

final as (

    select
        triggers.action,
        triggers.rule_name,
        triggers.person_id,
        triggers.email,
        persons.trial_outcome,
        persons.plan,
        triggers.matched_since,
        persons.last_seen_at

    from triggers
    inner join persons on triggers.person_id = persons.person_id

)

select * from final
order by action asc, rule_name asc, matched_since desc
