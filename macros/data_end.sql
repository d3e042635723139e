{#- The data's end: the latest moment anything happened (an event of any source, or an
    app account's signup, conversion or churn), read from dim_persons (a person's
    last_seen_at is their latest event). Marts that flag incomplete periods compare with
    it, so a rebuild on the same data gives the same flags whatever the wall clock says.
    A scalar subquery over `persons`, a relation or CTE with dim_persons' columns. -#}
{% macro data_end_at(persons) -%}
    (
        select max(moment) from (
            select max(last_seen_at) as moment from {{ persons }}
            union all
            select max(signed_up_at) as moment from {{ persons }}
            union all
            select max(converted_at) as moment from {{ persons }}
            union all
            select max(churned_at) as moment from {{ persons }}
        ) as moments
    )
{%- endmacro %}
