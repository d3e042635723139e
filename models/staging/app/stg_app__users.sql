{%- set raw_columns = {
    'id': dbt.type_bigint(), 'email': dbt.type_string(),
    'signed_up_at': journeys.type_timestamptz(), 'plan': dbt.type_string(),
    'converted_at': journeys.type_timestamptz(), 'churned': dbt.type_boolean(),
    'churned_at': journeys.type_timestamptz(), 'updated_at': journeys.type_timestamptz(),
} -%}
{#- the key column: a user is its id. The others may be absent from the raw table (read as
    null); a missing key column stops the build with an error naming it. -#}
{%- set key_columns = ['id'] -%}

with

source as (

    select * from {{ journeys.source_columns('app', 'users', raw_columns, key_columns) }}

),

-- one row per user id, the most recently updated version winning
versioned as (

    select
        *,
        row_number() over (partition by id order by updated_at desc) as version_rank

    from source

),

-- an empty or blank email is no email (SEMANTICS.md: null, '' and blank all count as
-- without), so dim_persons falls back to the CRM's as it does for a null one
renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as user_id,
        case when not {{ journeys.is_blank('email') }} then email end as email,
        plan,
        coalesce(churned, false) as is_churned,
        {{ journeys.to_utc('signed_up_at') }} as signed_up_at,
        {{ journeys.to_utc('converted_at') }} as converted_at,
        {{ journeys.to_utc('churned_at') }} as churned_at,
        {{ journeys.to_utc('updated_at') }} as updated_at

    from versioned
    where version_rank = 1

)

select * from renamed
