{%- set raw_columns = {
    'id': dbt.type_string(),
    'title': dbt.type_string(),
    'state': dbt.type_string(),
    'open': dbt.type_boolean(),
    'read': dbt.type_boolean(),
    'priority': dbt.type_string(),
    'admin_assignee_id': dbt.type_bigint(),
    'team_assignee_id': dbt.type_bigint(),
    'created_at': dbt.type_bigint(),
    'updated_at': dbt.type_bigint(),
    'waiting_since': dbt.type_bigint(),
    'snoozed_until': dbt.type_bigint(),
    'source__type': dbt.type_string(),
    'source__delivered_as': dbt.type_string(),
    'source__author__type': dbt.type_string(),
    'source__author__id': dbt.type_string(),
    'statistics__first_contact_reply_at': dbt.type_bigint(),
    'statistics__first_admin_reply_at': dbt.type_bigint(),
    'statistics__first_close_at': dbt.type_bigint(),
    'statistics__last_close_at': dbt.type_bigint(),
    'statistics__time_to_admin_reply': dbt.type_bigint(),
    'statistics__time_to_first_close': dbt.type_bigint(),
    'statistics__count_reopens': dbt.type_bigint(),
    'statistics__count_conversation_parts': dbt.type_bigint(),
    '_dlt_load_id': dbt.type_string(),
} -%}
{#- the key columns: a conversation is its id, its start (its event time) and its version
    time (the load's cursor). The others may be absent (read as null). -#}
{%- set key_columns = ['id', 'created_at', 'updated_at'] -%}

with

source as (

    select * from {{ journeys.source_columns(
        'intercom', 'conversations', raw_columns, key_columns) }}

),

-- one row per conversation id: the latest `updated_at` wins, then the latest load
versioned as (

    select
        *,
        row_number() over (
            partition by id
            order by updated_at desc nulls last, _dlt_load_id desc nulls last
        ) as version_rank

    from source

),

-- unix seconds become UTC instants; ids become text; `statistics.time_to_*` stay seconds
renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as intercom_conversation_id,
        title,
        state,
        open as is_open,
        read as is_read,
        priority,
        cast(admin_assignee_id as {{ dbt.type_string() }}) as admin_assignee_id,
        cast(team_assignee_id as {{ dbt.type_string() }}) as team_assignee_id,
        source__type as source_type,
        source__delivered_as as source_delivered_as,
        source__author__type as source_author_type,
        cast(source__author__id as {{ dbt.type_string() }}) as source_author_id,
        {{ journeys.from_unix_seconds('created_at') }} as created_at,
        {{ journeys.from_unix_seconds('updated_at') }} as updated_at,
        {{ journeys.from_unix_seconds('waiting_since') }} as waiting_since_at,
        {{ journeys.from_unix_seconds('snoozed_until') }} as snoozed_until_at,
        {{ journeys.from_unix_seconds('statistics__first_contact_reply_at') }}
            as first_contact_reply_at,
        {{ journeys.from_unix_seconds('statistics__first_admin_reply_at') }}
            as first_admin_reply_at,
        {{ journeys.from_unix_seconds('statistics__first_close_at') }} as first_closed_at,
        {{ journeys.from_unix_seconds('statistics__last_close_at') }} as last_closed_at,
        statistics__time_to_admin_reply as seconds_to_admin_reply,
        statistics__time_to_first_close as seconds_to_first_close,
        statistics__count_reopens as count_reopens,
        statistics__count_conversation_parts as count_conversation_parts

    from versioned
    where version_rank = 1

)

select * from renamed
