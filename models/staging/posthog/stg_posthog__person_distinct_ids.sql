{%- set raw_columns = {
    'distinct_id': dbt.type_string(), 'person_id': dbt.type_string(),
} -%}
{#- the key columns: a row maps a distinct_id to a person, both or nothing. -#}
{%- set key_columns = ['distinct_id', 'person_id'] -%}

with

source as (

    select * from {{
        journeys.source_columns(
            'posthog', 'api_person_distinct_ids', raw_columns, key_columns)
    }}

),

-- PostHog maps a distinct_id to one person at a time and the load merges on
-- distinct_id; should a raw table hold two, the smallest person id is kept so the
-- result never depends on load order (HogQL gives no version to prefer)
versioned as (

    select
        *,
        row_number() over (
            partition by distinct_id
            order by person_id nulls last
        ) as version_rank

    from source

),

renamed as (

    select
        cast(distinct_id as {{ dbt.type_string() }}) as distinct_id,
        cast(person_id as {{ dbt.type_string() }}) as posthog_person_id

    from versioned
    where version_rank = 1

)

select * from renamed
