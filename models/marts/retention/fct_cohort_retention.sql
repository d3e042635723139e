{#-
    SEMANTICS.md's retention, in the contract's columns: weekly signup cohorts (ISO weeks,
    Monday 00:00 UTC), one row per cohort and week since signup up to the week holding the
    data's end. The return events follow var retention_events; the other retention vars
    (period, cohort event) shape fct_retention_by_period only, never this table.
-#}

with

by_period as (

    select * from {{ ref('fct_retention_by_period') }}

),

-- the contract's definition: weekly cohorts by signup
final as (

    select
        cohort_start as cohort_week,
        periods_since_cohort as weeks_since_signup,
        cohort_size,
        retained_persons,
        retention_rate,
        is_complete

    from by_period
    where
        period = 'week'
        and cohort_event = '(signup)'

)

select * from final
