{%- set export_columns = {
    'uuid': dbt.type_string(), 'timestamp': journeys.type_timestamptz(),
    '_inserted_at': journeys.type_timestamptz(), 'created_at': journeys.type_timestamptz(),
    'event': dbt.type_string(), 'properties': journeys.type_json(),
    'distinct_id': dbt.type_string(), 'elements_chain': dbt.type_string(),
    'person_properties': journeys.type_json(), 'person_id': dbt.type_string(),
    '_source_file': dbt.type_string(),
} -%}
{%- set api_columns = {
    'uuid': dbt.type_string(), 'timestamp': journeys.type_timestamptz(),
    'created_at': journeys.type_timestamptz(), 'event': dbt.type_string(),
    'properties': journeys.type_json(), 'distinct_id': dbt.type_string(),
    'elements_chain': dbt.type_string(), 'person_properties': journeys.type_json(),
    'person_id': dbt.type_string(),
} -%}
{#- the key columns of both tables (SEMANTICS.md, Clean rows first): uuid, distinct_id,
    timestamp and event name. The others may be absent (read as null). -#}
{%- set key_columns = ['uuid', 'distinct_id', 'timestamp', 'event'] -%}

with

exported as (

    select * from {{ journeys.source_columns('posthog', 'events', export_columns, key_columns) }}

),

queried as (

    select * from {{ journeys.source_columns('posthog', 'api_events', api_columns, key_columns) }}

),

-- both pipelines in one shape (properties as JSON, whichever way each loaded them); the
-- query API has no export watermark or file
unioned as (

    select
        uuid,
        event,
        distinct_id,
        person_id,
        timestamp,
        created_at,
        _inserted_at,
        cast(properties as {{ journeys.type_json() }}) as properties,
        elements_chain,
        cast(person_properties as {{ journeys.type_json() }}) as person_properties,
        _source_file,
        'posthog-files' as source_pipeline,
        1 as pipeline_rank

    from exported

    union all

    select
        uuid,
        event,
        distinct_id,
        person_id,
        timestamp,
        created_at,
        cast(null as {{ journeys.type_timestamptz() }}) as _inserted_at,
        cast(properties as {{ journeys.type_json() }}) as properties,
        elements_chain,
        cast(person_properties as {{ journeys.type_json() }}) as person_properties,
        cast(null as {{ dbt.type_string() }}) as _source_file,
        'posthog-api' as source_pipeline,
        2 as pipeline_rank

    from queried

),

-- one row per uuid. PostHog events are immutable, so the copies of a uuid describe the
-- same event: the batch-export copy wins over the query-API copy (the export is the
-- complete record and carries `_inserted_at` and its file); among export copies (retries,
-- backfills) the latest `_inserted_at`, then the latest ingestion (`created_at`)
versioned as (

    select
        *,
        row_number() over (
            partition by uuid
            order by
                pipeline_rank asc,
                _inserted_at desc nulls last,
                created_at desc nulls last,
                _source_file desc nulls last
        ) as version_rank

    from unioned

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
        {{ journeys.json_text_columns('properties', {
            '$session_id': 'session_id',
            '$anon_distinct_id': 'anon_distinct_id',
            'alias': 'alias_id',
            '$current_url': 'current_url',
            '$pathname': 'pathname',
            '$referring_domain': 'referring_domain',
            'utm_source': 'utm_source',
            'utm_medium': 'utm_medium',
            'utm_campaign': 'utm_campaign',
        }) }},
        elements_chain,
        properties,
        person_properties,
        _source_file as source_file,
        source_pipeline

    from versioned
    where version_rank = 1

)

select * from renamed
