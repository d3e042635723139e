{%- set raw_columns = {
    'id': dbt.type_string(),
    'properties__email': dbt.type_string(),
    'properties__firstname': dbt.type_string(),
    'properties__lastname': dbt.type_string(),
    'properties__lifecyclestage': dbt.type_string(),
    'properties__hs_lead_status': dbt.type_string(),
    'properties__hs_analytics_source': dbt.type_string(),
    'properties__associatedcompanyid': dbt.type_string(),
    'properties__hs_merged_object_ids': dbt.type_string(),
    'properties__lastmodifieddate': journeys.type_timestamptz(),
    'created_at': journeys.type_timestamptz(),
    'updated_at': journeys.type_timestamptz(),
    'archived': dbt.type_boolean(),
    'archived_at': journeys.type_timestamptz(),
    '_dlt_load_id': dbt.type_string(),
} -%}
{#- the key columns: a record is its id and its last-modification time (the load's cursor;
    records without one are rejected at load). The others may be absent (read as null). -#}
{%- set key_columns = ['id', 'properties__lastmodifieddate'] -%}

with

source as (

    select * from {{ journeys.source_columns('hubspot', 'contacts', raw_columns, key_columns) }}

),

-- one row per contact id: the latest `updatedAt` wins, then the latest last-modified
-- date, then the latest load (the load already merges on id; this keeps staging right
-- on any raw table)
versioned as (

    select
        *,
        row_number() over (
            partition by id
            order by
                updated_at desc nulls last,
                properties__lastmodifieddate desc nulls last,
                _dlt_load_id desc nulls last
        ) as version_rank

    from source

),

-- HubSpot sends every property as text and clears a value to ""; "" means no value
renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as hubspot_contact_id,
        nullif(properties__email, '') as email,
        nullif(properties__firstname, '') as first_name,
        nullif(properties__lastname, '') as last_name,
        nullif(properties__lifecyclestage, '') as lifecycle_stage,
        nullif(properties__hs_lead_status, '') as lead_status,
        nullif(properties__hs_analytics_source, '') as analytics_source,
        cast(
            nullif(properties__associatedcompanyid, '') as {{ dbt.type_string() }}
        ) as associated_company_id,
        nullif(properties__hs_merged_object_ids, '') as merged_contact_ids,
        coalesce(archived, false) as is_archived,
        {{ journeys.to_utc('created_at') }} as created_at,
        {{ journeys.to_utc('updated_at') }} as updated_at,
        {{ journeys.to_utc('properties__lastmodifieddate') }} as last_modified_at,
        {{ journeys.to_utc('archived_at') }} as archived_at

    from versioned
    where version_rank = 1

)

select * from renamed
