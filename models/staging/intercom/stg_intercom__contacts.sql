{%- set raw_columns = {
    'id': dbt.type_string(),
    'workspace_id': dbt.type_string(),
    'external_id': dbt.type_string(),
    'role': dbt.type_string(),
    'email': dbt.type_string(),
    'email_domain': dbt.type_string(),
    'name': dbt.type_string(),
    'location__country': dbt.type_string(),
    'location__region': dbt.type_string(),
    'location__city': dbt.type_string(),
    'location__country_code': dbt.type_string(),
    'custom_attributes': dbt.type_string(),
    'created_at': dbt.type_bigint(),
    'updated_at': dbt.type_bigint(),
    'signed_up_at': dbt.type_bigint(),
    'last_seen_at': dbt.type_bigint(),
    '_dlt_load_id': dbt.type_string(),
} -%}
{#- the key columns: a contact is its id and its version time (the load's cursor). The
    others may be absent (read as null). -#}
{%- set key_columns = ['id', 'updated_at'] -%}

with

source as (

    select * from {{ journeys.source_columns('intercom', 'contacts', raw_columns, key_columns) }}

),

-- one row per contact id: the latest `updated_at` wins, then the latest load (the load
-- already merges on id; this keeps staging right on any raw table)
versioned as (

    select
        *,
        row_number() over (
            partition by id
            order by updated_at desc nulls last, _dlt_load_id desc nulls last
        ) as version_rank

    from source

),

-- Intercom times are unix seconds: converted to UTC instants
renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as intercom_contact_id,
        cast(external_id as {{ dbt.type_string() }}) as external_id,
        workspace_id,
        role,
        email,
        email_domain,
        name as full_name,
        location__country as country,
        location__region as region,
        location__city as city,
        location__country_code as country_code,
        custom_attributes,
        {{ journeys.from_unix_seconds('created_at') }} as created_at,
        {{ journeys.from_unix_seconds('signed_up_at') }} as signed_up_at,
        {{ journeys.from_unix_seconds('last_seen_at') }} as last_seen_at,
        {{ journeys.from_unix_seconds('updated_at') }} as updated_at

    from versioned
    where version_rank = 1

)

select * from renamed
