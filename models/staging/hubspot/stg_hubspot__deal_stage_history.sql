{%- set raw_columns = {
    'deal_id': dbt.type_string(),
    'stage': dbt.type_string(),
    'changed_at': journeys.type_timestamptz(),
    'source_type': dbt.type_string(),
    'source_id': dbt.type_string(),
    'source_label': dbt.type_string(),
    'updated_by_user_id': dbt.type_bigint(),
    '_dlt_load_id': dbt.type_string(),
} -%}
{#- the key columns: a change is its deal, stage and time (the dedup key). The others may
    be absent (read as null). -#}
{%- set key_columns = ['deal_id', 'stage', 'changed_at'] -%}

with

source as (

    select * from {{ journeys.source_columns(
        'hubspot', 'deal_stage_history', raw_columns, key_columns) }}

),

-- one row per (deal, change time, stage): the load already merges on this key; this keeps
-- staging right on any raw table, the latest load winning
versioned as (

    select
        *,
        row_number() over (
            partition by deal_id, changed_at, stage
            order by _dlt_load_id desc nulls last
        ) as version_rank

    from source

),

-- ids as text, times as UTC instants; HubSpot's `updatedByUserId` is an id, so text too
renamed as (

    select
        cast(deal_id as {{ dbt.type_string() }}) as hubspot_deal_id,
        cast(stage as {{ dbt.type_string() }}) as deal_stage,
        {{ journeys.to_utc('changed_at') }} as changed_at,
        nullif(source_type, '') as source_type,
        nullif(source_id, '') as source_id,
        nullif(source_label, '') as source_label,
        cast(updated_by_user_id as {{ dbt.type_string() }}) as updated_by_user_id

    from versioned
    where version_rank = 1

)

select * from renamed
