{%- set raw_columns = {
    'id': dbt.type_bigint(), 'user_id': dbt.type_bigint(), 'name': dbt.type_string(),
    'properties': dbt.type_string(), 'session_id': dbt.type_string(),
    'created_at': journeys.type_timestamptz(),
} -%}
{#- the key columns: an event is its id, its user, its name and its time. The others may
    be absent from the raw table (read as null). -#}
{%- set key_columns = ['id', 'user_id', 'name', 'created_at'] -%}

with

source as (

    select * from {{ journeys.source_columns('app', 'events', raw_columns, key_columns) }}

),

-- events are append-only; a re-delivered id keeps a single row
versioned as (

    select
        *,
        row_number() over (partition by id order by created_at desc) as version_rank

    from source

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as event_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        name as event_name,
        session_id,
        cast(properties as {{ journeys.type_json() }}) as properties,
        {{ journeys.to_utc('created_at') }} as occurred_at

    from versioned
    where version_rank = 1

)

select * from renamed
