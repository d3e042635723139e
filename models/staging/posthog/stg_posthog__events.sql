{%- set raw_columns = {
    'uuid': dbt.type_string(), 'timestamp': journeys.type_timestamptz(),
    '_inserted_at': journeys.type_timestamptz(), 'created_at': journeys.type_timestamptz(),
    'event': dbt.type_string(), 'properties': dbt.type_string(),
    'distinct_id': dbt.type_string(), 'elements_chain': dbt.type_string(),
    'person_properties': dbt.type_string(), 'person_id': dbt.type_string(),
    '_source_file': dbt.type_string(),
} -%}

with

source as (

    select * from {{ journeys.source_or_empty('posthog', 'events', raw_columns) }}

),

-- PostHog exports duplicates across retries and backfills: keep the latest copy of each
-- uuid (the load already merges on uuid; this keeps staging correct on any raw table)
versioned as (

    select
        *,
        row_number() over (
            partition by uuid
            order by _inserted_at desc, _source_file desc
        ) as version_rank

    from source

),

renamed as (

    select
        uuid as event_id,
        event as event_name,
        cast(distinct_id as {{ dbt.type_string() }}) as distinct_id,
        person_id as posthog_person_id,
        {{ journeys.to_utc('timestamp') }} as occurred_at,
        {{ journeys.to_utc('created_at') }} as received_at,
        {{ journeys.to_utc('_inserted_at') }} as inserted_at,
        {{ journeys.json_text('properties', '$session_id') }} as session_id,
        {{ journeys.json_text('properties', '$anon_distinct_id') }} as anon_distinct_id,
        {{ journeys.json_text('properties', '$current_url') }} as current_url,
        {{ journeys.json_text('properties', '$pathname') }} as pathname,
        {{ journeys.json_text('properties', '$referring_domain') }} as referring_domain,
        {{ journeys.json_text('properties', 'utm_source') }} as utm_source,
        {{ journeys.json_text('properties', 'utm_medium') }} as utm_medium,
        {{ journeys.json_text('properties', 'utm_campaign') }} as utm_campaign,
        elements_chain,
        properties,
        person_properties,
        _source_file as source_file

    from versioned
    where version_rank = 1

)

select * from renamed
