{%- set raw_columns = {
    'id': dbt.type_string(),
    'properties__name': dbt.type_string(),
    'properties__domain': dbt.type_string(),
    'properties__industry': dbt.type_string(),
    'properties__numberofemployees': dbt.type_string(),
    'properties__lifecyclestage': dbt.type_string(),
    'properties__hs_lastmodifieddate': journeys.type_timestamptz(),
    'created_at': journeys.type_timestamptz(),
    'updated_at': journeys.type_timestamptz(),
    'archived': dbt.type_boolean(),
    'archived_at': journeys.type_timestamptz(),
    '_dlt_load_id': dbt.type_string(),
} -%}
{#- the key columns: a record is its id and its last-modification time (the load's cursor;
    records without one are rejected at load). The others may be absent (read as null). -#}
{%- set key_columns = ['id', 'properties__hs_lastmodifieddate'] -%}

with

source as (

    select * from {{ journeys.source_columns('hubspot', 'companies', raw_columns, key_columns) }}

),

-- one row per company id: the latest `updatedAt` wins, then the latest last-modified
-- date, then the latest load
versioned as (

    select
        *,
        row_number() over (
            partition by id
            order by
                updated_at desc nulls last,
                properties__hs_lastmodifieddate desc nulls last,
                _dlt_load_id desc nulls last
        ) as version_rank

    from source

),

-- properties are text ("" when cleared); the employee count becomes a number
renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as hubspot_company_id,
        nullif(properties__name, '') as company_name,
        nullif(properties__domain, '') as company_domain,
        nullif(properties__industry, '') as industry,
        {{ journeys.text_to_number('properties__numberofemployees', dbt.type_bigint()) }}
            as employees,
        nullif(properties__lifecyclestage, '') as lifecycle_stage,
        coalesce(archived, false) as is_archived,
        {{ journeys.to_utc('created_at') }} as created_at,
        {{ journeys.to_utc('updated_at') }} as updated_at,
        {{ journeys.to_utc('properties__hs_lastmodifieddate') }} as last_modified_at,
        {{ journeys.to_utc('archived_at') }} as archived_at

    from versioned
    where version_rank = 1

)

select * from renamed
