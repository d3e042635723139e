{#-
    The tracking plan against what arrived (SEMANTICS.md, Tracking plan): one row per
    event in the plan or seen in fct_events (PostHog's own `$` events are outside the
    plan), so a typo in production shows up the next morning with its volume. Data that
    breaks the plan never fails the build: the findings here feed warn-severity tests
    and `journeys lint-plan`.
-#}

with

events as (

    select * from {{ ref('fct_events') }}
    where event_name not like '$%'

),

plan as (

    select * from {{ ref('tracking_plan') }}

),

planned_properties as (

    select * from {{ ref('tracking_plan_properties') }}

),

-- the last 7 days end at as_of_date (default: the last day in the data, never the
-- wall clock, so a rebuild is reproducible)
window_end as (

    select
        {% if var('as_of_date') -%}
            cast('{{ var("as_of_date") }}' as date)
        {%- else -%}
            max(cast(occurred_at as date))
        {%- endif %} as as_of_date

    from events

),

-- volumes count real occurrences (fct_events.is_counted: a PostHog copy of an app event
-- is not counted again); first and last arrival, and the property checks below, read
-- every row, since either copy can break the plan
seen as (

    select
        events.event_name,
        min(events.occurred_at) as first_seen_at,
        max(events.occurred_at) as last_seen_at,
        count(case when events.is_counted then 1 end) as events,
        count(distinct case when events.is_counted then events.person_id end) as persons,
        count(
            case
                when
                    events.is_counted
                    and cast(events.occurred_at as date)
                    > {{ dbt.dateadd('day', -7, 'window_end.as_of_date') }}
                    and cast(events.occurred_at as date) <= window_end.as_of_date
                    then 1
            end
        ) as events_last_7d

    from events
    cross join window_end
    group by events.event_name

),

-- each event against each property the plan gives its name: the JSON type that arrived
property_checks as (

    select
        events.event_name,
        planned_properties.property_name,
        planned_properties.property_type,
        planned_properties.is_required,
        {{ journeys.json_type_at('events.properties', 'planned_properties.property_name') }}
            as arrived_type

    from events
    inner join planned_properties on events.event_name = planned_properties.event_name

),

property_findings as (

    select
        event_name,
        count(
            case
                when
                    arrived_type is not null
                    and arrived_type <> 'null'
                    and arrived_type <> property_type
                    then 1
            end
        ) as mistyped_properties,
        count(
            case
                when is_required and (arrived_type is null or arrived_type = 'null')
                    then 1
            end
        ) as missing_required_properties

    from property_checks
    group by event_name

),

-- a name is "the same" as a planned one when case and separators are ignored
-- (`Signed_Up`, `signed-up`, `signedUp` all read as `signedup`)
canonical_plan as (

    select
        event_name,
        {{ journeys.canonical_event_name('event_name') }} as canonical_name

    from plan

),

joined as (

    select
        coalesce(plan.event_name, seen.event_name) as event_name,
        plan.event_name is not null as is_in_plan,
        coalesce(plan.status, 'unknown') as plan_status,
        plan.category,
        plan.side,
        plan.owner,
        seen.first_seen_at,
        seen.last_seen_at,
        coalesce(seen.events, 0) as events,
        coalesce(seen.events_last_7d, 0) as events_last_7d,
        coalesce(seen.persons, 0) as persons,
        coalesce(property_findings.mistyped_properties, 0) as mistyped_properties,
        coalesce(property_findings.missing_required_properties, 0)
            as missing_required_properties

    from plan
    full outer join seen on plan.event_name = seen.event_name
    left join property_findings
        on coalesce(plan.event_name, seen.event_name) = property_findings.event_name

),

final as (

    select
        joined.event_name,
        joined.is_in_plan,
        joined.plan_status,
        joined.category,
        joined.side,
        joined.owner,
        case
            when not joined.is_in_plan then 'unknown_event'
            when joined.plan_status = 'removed' and joined.events > 0
                then 'removed_event_arriving'
            when joined.plan_status = 'proposed' and joined.events > 0
                then 'proposed_event_arriving'
            when joined.plan_status = 'deprecated' and joined.events > 0
                then 'deprecated_event_arriving'
            when joined.mistyped_properties > 0 then 'mistyped_properties'
            when joined.missing_required_properties > 0 then 'missing_required_properties'
            when joined.plan_status = 'active' and joined.events = 0 then 'never_seen'
            else 'ok'
        end as finding,
        case
            when not joined.is_in_plan then planned_match.event_name
        end as similar_planned_event,
        joined.first_seen_at,
        joined.last_seen_at,
        joined.events,
        joined.events_last_7d,
        joined.persons,
        joined.mistyped_properties,
        joined.missing_required_properties,
        window_end.as_of_date

    from joined
    cross join window_end
    left join canonical_plan as planned_match
        on
            {{ journeys.canonical_event_name('joined.event_name') }} = planned_match.canonical_name
            and joined.event_name <> planned_match.event_name

)

select * from final
