-- Events that carry a property of another type than the tracking plan says.
-- Data that breaks the plan never fails the build: this warns (SEMANTICS.md).
{{ config(severity='warn') }}

select
    event_name,
    plan_status,
    similar_planned_event,
    events,
    events_last_7d,
    mistyped_properties,
    missing_required_properties

from {{ ref('fct_tracking_plan_coverage') }}
where finding = 'mistyped_properties'
