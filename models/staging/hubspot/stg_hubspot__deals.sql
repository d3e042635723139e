{%- set raw_columns = {
    'id': dbt.type_string(),
    'properties__dealname': dbt.type_string(),
    'properties__dealstage': dbt.type_string(),
    'properties__pipeline': dbt.type_string(),
    'properties__amount': dbt.type_string(),
    'properties__closedate': journeys.type_timestamptz(),
    'properties__hs_is_closed_won': dbt.type_string(),
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

    select * from {{ journeys.source_columns('hubspot', 'deals', raw_columns, key_columns) }}

),

-- one row per deal id: the latest `updatedAt` wins, then the latest last-modified date,
-- then the latest load
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

-- properties are text ("" when cleared): the amount becomes a number and
-- hs_is_closed_won ("true"/"false") a boolean
renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as hubspot_deal_id,
        nullif(properties__dealname, '') as deal_name,
        nullif(properties__pipeline, '') as pipeline,
        nullif(properties__dealstage, '') as deal_stage,
        {{ journeys.text_to_number('properties__amount') }} as amount,
        {{ journeys.text_to_boolean('properties__hs_is_closed_won') }} as is_closed_won,
        {{ journeys.to_utc('properties__closedate') }} as close_at,
        coalesce(archived, false) as is_archived,
        {{ journeys.to_utc('created_at') }} as created_at,
        {{ journeys.to_utc('updated_at') }} as updated_at,
        {{ journeys.to_utc('properties__hs_lastmodifieddate') }} as last_modified_at,
        {{ journeys.to_utc('archived_at') }} as archived_at

    from versioned
    where version_rank = 1

)

select * from renamed
