{#-
    Cohort retention for every retention definition of this build (docs/funnels.md,
    Retention): SEMANTICS.md's weekly signup cohorts always (fct_cohort_retention reads
    them here), and the configured period and cohort event (vars retention_period,
    retention_cohort_event) when they differ. One row per definition, cohort and period
    since the cohort's start, from period 0 to the period holding the data's end, zero
    retained included; a period that has not fully elapsed at the data's end is flagged
    incomplete, never dropped. fct_events is read once, for every cohort and definition.
-#}

{%- set settings = journeys.retention_settings() -%}
{#- (period, cohort event): the contract's weekly signup cohorts first -#}
{%- set definitions = [('week', none)] -%}
{%- if settings.period != 'week' or settings.cohort_event is not none -%}
    {%- do definitions.append((settings.period, settings.cohort_event)) -%}
{%- endif -%}
{%- set cohort_events = [] -%}
{%- if settings.cohort_event is not none -%}
    {%- do cohort_events.append(settings.cohort_event) -%}
{%- endif -%}
{%- set is_return = journeys.retention_is_return(
    settings.return_events, 'source', 'event_name') -%}

with

events as (

    select * from {{ ref('fct_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

-- the definitions as rows, so one pass over the events serves all of them; the cohort
-- event `(signup)` is signup, the others name the event whose first occurrence enters
definitions as (

    {% for period, cohort_event in definitions -%}
        select
            '{{ period }}' as period,
            {% if cohort_event is none -%}
                '(signup)' as cohort_event,
                cast(null as {{ dbt.type_string() }}) as cohort_event_name
            {%- else -%}
                {{ journeys.text_literal(cohort_event) }} as cohort_event,
                {{ journeys.text_literal(cohort_event) }} as cohort_event_name
            {%- endif %}
        {% if not loop.last %}
            union all
        {% endif %}
    {%- endfor %}

),

-- each real occurrence once (is_counted: a PostHog copy of an app event is not counted
-- again), only rows that can mark a return or enter a cohort; the one read of fct_events
relevant_events as (

    select
        person_id,
        event_name,
        occurred_at,
        {{ is_return }} as is_return,
        {{ journeys.retention_utc_date('occurred_at') }} as occurred_date

    from events
    where
        is_counted
        and (
            {{ is_return }}
            {%- if cohort_events %}
                or event_name in ({{ journeys.retention_text_list(cohort_events) }})
            {%- endif %}
        )

),

-- the data's end as dim_persons' trial outcome reads it: the latest event of any source
-- or app account change (signup, conversion, churn). A person's last_seen_at is their
-- latest event, so the greatest last_seen_at is fct_events' latest occurred_at
data_end as (

    select {{ journeys.data_end_at('persons') }} as data_end_at

),

-- when each person entered each definition's cohort: at signup (dim_persons: the app's
-- signed_up_at, else their first signed_up event), or at their first counted event of
-- the cohort event
entries as (

    select
        definitions.period,
        definitions.cohort_event,
        persons.person_id,
        persons.signed_up_at as entered_at

    from definitions
    cross join persons
    where
        definitions.cohort_event_name is null
        and persons.signed_up_at is not null

    union all

    select
        definitions.period,
        definitions.cohort_event,
        relevant_events.person_id,
        min(relevant_events.occurred_at) as entered_at

    from definitions
    inner join relevant_events
        on definitions.cohort_event_name = relevant_events.event_name
    group by
        definitions.period,
        definitions.cohort_event,
        relevant_events.person_id

),

-- a member's cohort is the calendar period (UTC) holding their entry
members as (

    select
        period,
        cohort_event,
        person_id,
        {{ journeys.retention_period_start('period', journeys.retention_utc_date('entered_at')) }}
            as cohort_start

    from entries

),

cohorts as (

    select
        period,
        cohort_event,
        cohort_start,
        count(*) as cohort_size

    from members
    group by period, cohort_event, cohort_start

),

-- a cohort's last period is the one holding the data's end
cohort_spans as (

    select
        cohorts.period,
        cohorts.cohort_event,
        cohorts.cohort_start,
        cohorts.cohort_size,
        {{ journeys.retention_periods_between(
            'cohorts.period',
            'cohorts.cohort_start',
            journeys.retention_period_start(
                'cohorts.period', journeys.retention_utc_date('data_end.data_end_at'))
        ) }} as last_period

    from cohorts
    cross join data_end

),

-- every cell of a cohort, periods 0 to its last, so cells nobody returned in are rows
cells as (

    select
        period,
        cohort_event,
        cohort_start,
        cohort_size,
        last_period,
        {{ journeys.retention_zero_to('last_period') }} as periods_since_cohort

    from cohort_spans

),

-- a member returned in period N when a return event lies in the cohort's period N:
-- calendar periods from the cohort's start, not windows from the entry instant (an event
-- of the entry's period counts for period 0 even before the entry; one before that
-- period counts for none)
returns as (

    select distinct
        members.period,
        members.cohort_event,
        members.cohort_start,
        members.person_id,
        {{ journeys.retention_periods_between(
            'members.period',
            'members.cohort_start',
            journeys.retention_period_start('members.period', 'relevant_events.occurred_date')
        ) }} as periods_since_cohort

    from members
    inner join relevant_events on members.person_id = relevant_events.person_id
    where relevant_events.is_return

),

retained as (

    select
        period,
        cohort_event,
        cohort_start,
        periods_since_cohort,
        count(*) as retained_persons

    from returns
    where periods_since_cohort >= 0
    group by period, cohort_event, cohort_start, periods_since_cohort

),

-- complete: the cell's period ended at or before the data's end. A period ends where the
-- next begins, so the periods before the one holding the data's end are complete and that
-- one is not (it ends after the data's end, even when the data's end is its first instant)
final as (

    select
        cells.period,
        cells.cohort_event,
        cells.cohort_start,
        cast(cells.periods_since_cohort as bigint) as periods_since_cohort,
        cells.cohort_size,
        coalesce(retained.retained_persons, 0) as retained_persons,
        cast(coalesce(retained.retained_persons, 0) as {{ journeys.type_double() }})
        / cast(cells.cohort_size as {{ journeys.type_double() }}) as retention_rate,
        cells.periods_since_cohort < cells.last_period as is_complete

    from cells
    left join retained
        on
            cells.period = retained.period
            and cells.cohort_event = retained.cohort_event
            and cells.cohort_start = retained.cohort_start
            and cells.periods_since_cohort = retained.periods_since_cohort

)

select * from final
