{%- set raw_columns = {
    'id': dbt.type_string(), 'created_at': journeys.type_timestamptz(),
    'is_identified': dbt.type_boolean(), 'properties': dbt.type_string(),
} -%}
{#- the key column: a person is its id. The others may be absent (read as null). -#}
{%- set key_columns = ['id'] -%}

with

source as (

    select * from {{ journeys.source_columns('posthog', 'api_persons', raw_columns, key_columns) }}

),

-- one row per person id (the load merges on id already). HogQL's persons carry no change
-- time; a person only ever goes from anonymous to identified, so an identified copy is
-- the later one, then the latest creation time
versioned as (

    select
        *,
        row_number() over (
            partition by id
            order by
                coalesce(is_identified, false) desc,
                created_at desc nulls last
        ) as version_rank

    from source

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as posthog_person_id,
        coalesce(is_identified, false) as is_identified,
        {{ journeys.to_utc('created_at') }} as created_at,
        properties

    from versioned
    where version_rank = 1

)

select * from renamed
