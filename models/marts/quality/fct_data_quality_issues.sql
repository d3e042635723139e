{#-
    One row per row of the customer's data that a `severity: warn` test found (macros/
    data_quality.sql): which model, column and rule, the row's key and the value. The
    rules are the warn tests themselves, read from dbt's graph when the model runs; the
    models they check are listed below so that dbt builds them first.
-#}
-- depends_on: {{ ref('stg_app__users') }}
-- depends_on: {{ ref('stg_app__events') }}
-- depends_on: {{ ref('stg_hubspot__contacts') }}
-- depends_on: {{ ref('stg_hubspot__companies') }}
-- depends_on: {{ ref('stg_hubspot__deals') }}
-- depends_on: {{ ref('stg_hubspot__deal_stage_history') }}
-- depends_on: {{ ref('stg_hubspot__associations') }}
-- depends_on: {{ ref('stg_intercom__contacts') }}
-- depends_on: {{ ref('stg_intercom__conversations') }}
-- depends_on: {{ ref('stg_intercom__conversation_contacts') }}
-- depends_on: {{ ref('stg_posthog__persons') }}
-- depends_on: {{ ref('stg_posthog__person_distinct_ids') }}
{%- set checks = journeys.data_quality_checks() %}

with

-- every check's rows, in one shape (none at all while dbt parses)
found as (

    {%- for check in checks %}

        {{ journeys.data_quality_rows(check) }}
        {{- "\n\n        union all\n" if not loop.last }}
    {%- else %}

        select
            cast(null as {{ dbt.type_string() }}) as test_name,
            cast(null as {{ dbt.type_string() }}) as model_name,
            cast(null as {{ dbt.type_string() }}) as column_name,
            cast(null as {{ dbt.type_string() }}) as rule_name,
            cast(null as {{ dbt.type_string() }}) as row_key,
            cast(null as {{ dbt.type_string() }}) as offending_value
        where 1 = 0
    {%- endfor %}

),

final as (

    select
        test_name,
        model_name,
        column_name,
        rule_name,
        row_key,
        offending_value

    from found

)

select * from final
