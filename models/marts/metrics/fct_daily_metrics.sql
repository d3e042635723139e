{#-
    The SaaS team's daily numbers (docs/metrics.md has every rule): one row per UTC day
    from the data's first day to the day holding the data's end, days without any event
    included. Account numbers (signups, trials, conversions, churns) come from
    dim_persons; activity (DAU, WAU, MAU) from one read of fct_events: a person is active
    on a day with a counted product event (var metrics_active_events; default as
    retention's: PostHog and app events whose name does not start with `$`).
-#}

{%- set active_events = journeys.metrics_active_events() -%}
{%- set trial_days = journeys.metrics_trial_days() -%}
{%- set is_active = journeys.retention_is_return(active_events, 'source', 'event_name') -%}

with

events as (

    select * from {{ ref('fct_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

-- the data's span: its first moment and its end (the latest event of any source or app
-- account change, as dim_persons' trial outcome reads it), never the wall clock
data_span as (

    select
        {{ journeys.data_start_at('persons') }} as data_start_at,
        {{ journeys.data_end_at('persons') }} as data_end_at

),

span_days as (

    select
        {{ journeys.retention_utc_date('data_start_at') }} as first_date,
        {{ journeys.retention_utc_date('data_end_at') }} as last_date

    from data_span
    where data_end_at is not null

),

-- every day of the span, so a day without events is still a row
calendar as (

    select
        {{ journeys.metrics_add_days('first_date', 'day_number') }} as metric_date,
        last_date

    from (
        select
            first_date,
            last_date,
            {{ journeys.retention_zero_to(
                journeys.retention_days_between('first_date', 'last_date')) }} as day_number
        from span_days
    ) as numbered

),

-- the one read of fct_events: each person's active days (each real occurrence once:
-- a PostHog copy of an app event is not counted again)
active_days as (

    select distinct
        person_id,
        {{ journeys.retention_utc_date('occurred_at') }} as active_date

    from events
    where
        is_counted
        and {{ is_active }}

),

-- a person is in the w-day window ending on day d (w = 7 for WAU, 30 for MAU) when one of
-- their active days lies in [d - w + 1, d]. Each active day a covers the days from a up to
-- the day before the person's next active day, at most w days: these stretches never
-- overlap, so a person counts once on a day, and the active persons of day d are the
-- stretches started on or before d minus those ended on or before d. Each active day
-- adds +1 on a and -1 on its stretch's end, and a running sum over the days counts them
-- (one pass over the active days, no join of every day with every active day)
active_stretches as (

    select
        active_date,
        lead(active_date) over (
            partition by person_id order by active_date
        ) as next_active_date

    from active_days

),

stretch_ends as (

    select
        active_date,
        case
            when
                next_active_date is null
                or next_active_date > {{ journeys.metrics_add_days('active_date', 7) }}
                then {{ journeys.metrics_add_days('active_date', 7) }}
            else next_active_date
        end as week_stretch_end_date,
        case
            when
                next_active_date is null
                or next_active_date > {{ journeys.metrics_add_days('active_date', 30) }}
                then {{ journeys.metrics_add_days('active_date', 30) }}
            else next_active_date
        end as month_stretch_end_date

    from active_stretches

),

window_changes as (

    select
        active_date as change_date,
        1 as dau_change,
        1 as wau_change,
        1 as mau_change
    from stretch_ends

    union all

    select
        {{ journeys.metrics_add_days('active_date', 1) }} as change_date,
        -1 as dau_change,
        0 as wau_change,
        0 as mau_change
    from stretch_ends

    union all

    select
        week_stretch_end_date as change_date,
        0 as dau_change,
        -1 as wau_change,
        0 as mau_change
    from stretch_ends

    union all

    select
        month_stretch_end_date as change_date,
        0 as dau_change,
        0 as wau_change,
        -1 as mau_change
    from stretch_ends

),

daily_changes as (

    select
        change_date,
        sum(dau_change) as dau_change,
        sum(wau_change) as wau_change,
        sum(mau_change) as mau_change

    from window_changes
    group by change_date

),

-- a trial ends var trial_days after signup
trials as (

    select
        {{ dbt.dateadd('day', trial_days, 'signed_up_at') }} as trial_ended_at,
        converted_at is not null as is_converted

    from persons
    where signed_up_at is not null

),

-- a day's trial cohort: the trials that ended on it (UTC), among those that ended by the
-- data's end (SEMANTICS.md: conversion rates use only persons whose trial has ended)
trial_ends as (

    select
        {{ journeys.retention_utc_date('trials.trial_ended_at') }} as trial_ended_date,
        trials.is_converted

    from trials
    cross join data_span
    where trials.trial_ended_at <= data_span.data_end_at

),

trial_cohorts as (

    select
        trial_ended_date,
        count(*) as trials_ended,
        count(case when is_converted then 1 end) as trials_ended_converted

    from trial_ends
    group by trial_ended_date

),

-- the account changes of each day: signups (every signup starts a trial), conversions
-- and churns at their own instants
account_moments as (

    select
        {{ journeys.retention_utc_date('signed_up_at') }} as moment_date,
        1 as signups,
        0 as conversions,
        0 as churns
    from persons
    where signed_up_at is not null

    union all

    select
        {{ journeys.retention_utc_date('converted_at') }} as moment_date,
        0 as signups,
        1 as conversions,
        0 as churns
    from persons
    where converted_at is not null

    union all

    select
        {{ journeys.retention_utc_date('churned_at') }} as moment_date,
        0 as signups,
        0 as conversions,
        1 as churns
    from persons
    where churned_at is not null

),

account_days as (

    select
        moment_date,
        sum(signups) as signups,
        sum(conversions) as conversions,
        sum(churns) as churns

    from account_moments
    group by moment_date

),

-- the running sums: active persons of each window on each day
windows as (

    select
        calendar.metric_date,
        calendar.last_date,
        sum(coalesce(daily_changes.dau_change, 0)) over (
            order by calendar.metric_date rows between unbounded preceding and current row
        ) as dau,
        sum(coalesce(daily_changes.wau_change, 0)) over (
            order by calendar.metric_date rows between unbounded preceding and current row
        ) as wau,
        sum(coalesce(daily_changes.mau_change, 0)) over (
            order by calendar.metric_date rows between unbounded preceding and current row
        ) as mau

    from calendar
    left join daily_changes on calendar.metric_date = daily_changes.change_date

),

final as (

    select
        windows.metric_date,
        cast(coalesce(account_days.signups, 0) as bigint) as signups,
        cast(coalesce(account_days.signups, 0) as bigint) as trials_started,
        cast(coalesce(account_days.conversions, 0) as bigint) as conversions,
        cast(coalesce(account_days.churns, 0) as bigint) as churns,
        cast(windows.dau as bigint) as dau,
        cast(windows.wau as bigint) as wau,
        cast(windows.mau as bigint) as mau,
        case
            when windows.mau > 0
                then cast(windows.dau as {{ journeys.type_double() }}) / windows.mau
        end as stickiness,
        cast(coalesce(trial_cohorts.trials_ended, 0) as bigint) as trials_ended,
        cast(coalesce(trial_cohorts.trials_ended_converted, 0) as bigint)
            as trials_ended_converted,
        case
            when trial_cohorts.trials_ended > 0
                then
                    cast(trial_cohorts.trials_ended_converted as {{ journeys.type_double() }})
                    / trial_cohorts.trials_ended
        end as trial_conversion_rate,
        -- the day ended at or before the data's end: every day but the one holding it
        windows.metric_date < windows.last_date as is_complete

    from windows
    left join account_days on windows.metric_date = account_days.moment_date
    left join trial_cohorts on windows.metric_date = trial_cohorts.trial_ended_date

)

select * from final
