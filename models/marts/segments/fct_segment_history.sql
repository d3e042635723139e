{#-
    SEMANTICS.md's segments, week by week (docs/segments.md): one row per person and ISO
    week (Monday) from the week of the person's first day (signup or first product event)
    to the week holding the as-of day, with the segment evaluated as of the week's end
    (its Sunday; the as-of day itself for the last week), counting only what happened up
    to the end of that day. fct_events is read once; dim_person_segments and
    fct_segment_transitions are read from this table.
-#}

{%- set settings = journeys.segments_settings() -%}
{%- set is_product_use = journeys.retention_is_return(none, 'source', 'event_name') -%}

with

events as (

    select * from {{ ref('fct_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

-- the as-of day: var as_of_date, else the UTC day of the data's end (never the wall clock)
as_of as (

    select
        as_of_date,
        {{ journeys.segments_day_number('as_of_date') }} as as_of_day,
        {{ journeys.segments_day_number(journeys.retention_period_start("'week'", 'as_of_date')) }}
            as as_of_week_day

    from (select {{ journeys.segments_as_of_date('persons') }} as as_of_date) as chosen

),

-- product use, as in retention: each real occurrence once (is_counted), from PostHog or
-- the app, not PostHog's `$` system events; CRM touchpoints (a deal stage, a conversation)
-- are the company's actions, not the person's. The one read of fct_events
product_events as (

    select
        person_id,
        {{ journeys.retention_utc_date('occurred_at') }} as activity_date

    from events
    where is_counted and {{ is_product_use }}

),

-- per person and UTC day up to the as-of day: a day is the finest grain the rules read
product_days as (

    select
        product_events.person_id,
        {{ journeys.segments_day_number('product_events.activity_date') }} as day_number,
        count(*) as events

    from product_events
    cross join as_of
    where product_events.activity_date <= as_of.as_of_date
    group by product_events.person_id, product_events.activity_date

),

first_days as (

    select
        person_id,
        min(day_number) as first_active_day

    from product_days
    group by person_id

),

-- each person's signup and churn days (UTC)
person_days as (

    select
        person_id,
        {{ journeys.segments_day_number(journeys.retention_utc_date('signed_up_at')) }}
            as signup_day,
        {{ journeys.segments_day_number(journeys.retention_utc_date('churned_at')) }}
            as churned_day

    from persons

),

-- the population: persons who signed up or used the product, from the earlier of their
-- signup day and first product day (anonymous visitors with only `$` events and CRM-only
-- leads are not in it)
members as (

    select
        person_days.person_id,
        person_days.churned_day,
        least(
            coalesce(person_days.signup_day, first_days.first_active_day),
            coalesce(first_days.first_active_day, person_days.signup_day)
        ) as start_day

    from person_days
    left join first_days on person_days.person_id = first_days.person_id

),

-- the Monday of each member's first week, for members whose first day is on or before
-- the as-of day
member_spans as (

    select
        members.person_id,
        members.churned_day,
        {{ journeys.segments_day_number(journeys.retention_period_start(
            "'week'", journeys.segments_date_of('members.start_day'))) }} as first_week_day,
        as_of.as_of_day,
        as_of.as_of_week_day

    from members
    cross join as_of
    where members.start_day <= as_of.as_of_day

),

member_weeks as (

    select
        person_id,
        churned_day,
        first_week_day,
        as_of_day,
        -- weeks 0 to the as-of week (both Mondays: the division is exact)
        {{ journeys.retention_zero_to('cast((as_of_week_day - first_week_day) / 7 as bigint)') }}
            as week_index

    from member_spans

),

-- each member-week's evaluation day: its Sunday, or the as-of day in the as-of week
evaluations as (

    select
        person_id,
        churned_day,
        first_week_day + 7 * week_index as week_day,
        least(first_week_day + 7 * week_index + 6, as_of_day) as evaluation_day

    from member_weeks

),

-- product days and evaluation days in one stream per person, in day order, so running
-- window sums give every evaluation its counts in one pass (an evaluation day's own
-- product events are its peers in the range frame, so they count)
timeline as (

    select
        person_id,
        day_number,
        events,
        false as is_evaluation,
        cast(null as bigint) as week_day,
        cast(null as bigint) as churned_day

    from product_days

    union all

    select
        person_id,
        evaluation_day as day_number,
        0 as events,
        true as is_evaluation,
        week_day,
        churned_day

    from evaluations

),

measured as (

    select
        person_id,
        day_number as evaluation_day,
        is_evaluation,
        week_day,
        churned_day,
        sum(events) over (
            partition by person_id order by day_number
            range between unbounded preceding and current row
        ) as lifetime_events,
        -- the as-of day and the 30 days before it (days_since_active 0 to 30, at_risk's
        -- default reach; PostHog's "last 30 days" range counts the same 31 days)
        sum(events) over (
            partition by person_id order by day_number
            range between 30 preceding and current row
        ) as events_last_30d,
        max(case when not is_evaluation then day_number end) over (
            partition by person_id order by day_number
            range between unbounded preceding and current row
        ) as last_active_day

    from timeline

),

evaluated as (

    select
        person_id,
        week_day,
        evaluation_day,
        churned_day is not null and churned_day <= evaluation_day as is_churned,
        cast(lifetime_events as bigint) as lifetime_events,
        cast(events_last_30d as bigint) as events_last_30d,
        cast(evaluation_day - last_active_day as bigint) as days_since_active

    from measured
    where is_evaluation

),

final as (

    select
        person_id,
        -- `week`: the column name fct_segment_transitions and the issue use
        {{ journeys.segments_date_of('week_day') }} as week,  -- noqa: RF04
        {{ journeys.segments_date_of('evaluation_day') }} as as_of_date,
        {{ journeys.segments_rule(settings, 'is_churned', 'lifetime_events', 'days_since_active') }}
            as segment,
        lifetime_events,
        events_last_30d,
        days_since_active

    from evaluated

)

select * from final
