{#-
    PostHog's lifecycle insight by ISO week (docs/engagement.md, "Lifecycle"): per week
    and status (new, returning, resurrecting, dormant) the persons in it. Active in a week
    = at least one product event that week (counted PostHog and app events whose name does
    not start with `$`, retention's default). One row per status for every week from the
    first week with a product event to the week holding the data's end, zeros included.
-#}

{%- set is_active = journeys.retention_is_return(none, 'source', 'event_name') %}

with

events as (

    select * from {{ ref('fct_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

data_end as (

    select {{ journeys.data_end_at('persons') }} as data_end_at

),

-- the one read of fct_events: the weeks (Monday, UTC) each person was active in
active_weeks as (

    select distinct
        person_id,
        {{ journeys.retention_period_start("'week'", journeys.retention_utc_date('occurred_at')) }}
            as week_start

    from events
    where
        is_counted
        and {{ is_active }}

),

-- each active week with the person's previous and next active weeks
sequenced as (

    select
        person_id,
        week_start,
        lag(week_start) over (partition by person_id order by week_start) as previous_week,
        lead(week_start) over (partition by person_id order by week_start) as next_week

    from active_weeks

),

-- an active week is new (no earlier active week), returning (active the week before) or
-- resurrecting (active before, not the week before); the week after an active week in
-- which the person is not active is dormant for them (once per gap, as PostHog counts)
statuses as (

    select
        week_start,
        person_id,
        case
            when previous_week is null then 'new'
            when {{ journeys.retention_days_between('previous_week', 'week_start') }} = 7
                then 'returning'
            else 'resurrecting'
        end as status

    from sequenced

    union all

    select
        cast({{ dbt.dateadd('day', 7, 'week_start') }} as date) as week_start,
        person_id,
        'dormant' as status

    from sequenced
    where
        next_week is null
        or {{ journeys.retention_days_between('week_start', 'next_week') }} > 7

),

-- weeks from the first active week to the week holding the data's end
span as (

    select
        min(active_weeks.week_start) as first_week,
        {{ journeys.retention_period_start(
            "'week'", journeys.retention_utc_date('data_end.data_end_at')) }} as last_week

    from active_weeks
    cross join data_end
    group by data_end.data_end_at

),

week_numbers as (

    select
        first_week,
        last_week,
        {{ journeys.retention_zero_to(
            'cast(' ~ journeys.retention_days_between('first_week', 'last_week')
            ~ ' / 7 as bigint)') }} as week_number

    from span

),

weeks as (

    select
        cast({{ dbt.dateadd('day', 'week_number * 7', 'first_week') }} as date) as week_start,
        last_week

    from week_numbers

),

labels as (

    select 'new' as status
    union all
    select 'returning' as status
    union all
    select 'resurrecting' as status
    union all
    select 'dormant' as status

),

counts as (

    select
        week_start,
        status,
        count(*) as persons

    from statuses
    group by week_start, status

),

-- a week is complete when it ended at or before the data's end: every week before the
-- one holding it
final as (

    select
        weeks.week_start,
        labels.status,
        cast(coalesce(counts.persons, 0) as bigint) as persons,
        cast(
            case when labels.status = 'dormant' then -1 else 1 end
            * coalesce(counts.persons, 0) as bigint
        ) as chart_persons,
        weeks.week_start < weeks.last_week as is_complete

    from weeks
    cross join labels
    left join counts
        on
            weeks.week_start = counts.week_start
            and labels.status = counts.status

)

select * from final
