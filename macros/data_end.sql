{#- The data's end: the latest moment anything happened (an event of any source, or an
    app account's signup, conversion or churn), read from dim_persons (a person's
    last_seen_at is their latest event). Marts that flag incomplete periods compare with
    it, so a rebuild on the same data gives the same flags whatever the wall clock says.
    A scalar subquery over `persons`, a relation or CTE with dim_persons' columns. -#}
{% macro data_end_at(persons) -%}
    {{ journeys.data_edge_at(persons, 'max', 'last_seen_at') }}
{%- endmacro %}

{#- The data's start: the earliest moment anything happened, read the same way (a
    person's first_seen_at is their first event). -#}
{% macro data_start_at(persons) -%}
    {{ journeys.data_edge_at(persons, 'min', 'first_seen_at') }}
{%- endmacro %}

{#- `edge` (max or min) over a person's events (`seen_at`) and their account's signup,
    conversion and churn: one scalar subquery. -#}
{% macro data_edge_at(persons, edge, seen_at) -%}
    (
        select {{ edge }}(moment) from (
            select {{ edge }}({{ seen_at }}) as moment from {{ persons }}
            union all
            select {{ edge }}(signed_up_at) as moment from {{ persons }}
            union all
            select {{ edge }}(converted_at) as moment from {{ persons }}
            union all
            select {{ edge }}(churned_at) as moment from {{ persons }}
        ) as moments
    )
{%- endmacro %}
