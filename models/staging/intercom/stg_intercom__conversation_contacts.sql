{%- set conversation_columns = {
    'id': dbt.type_string(),
    'updated_at': dbt.type_bigint(),
    '_dlt_load_id': dbt.type_string(),
    '_dlt_id': dbt.type_string(),
} -%}
{#- the key columns: a conversation's id and dlt's row id its list of contacts hangs from;
    a listed contact's id and that parent row id. The others may be absent (read as null). -#}
{%- set conversation_keys = ['id', '_dlt_id'] -%}
{%- set contact_columns = {
    'id': dbt.type_string(),
    'external_id': dbt.type_string(),
    '_dlt_parent_id': dbt.type_string(),
    '_dlt_list_idx': dbt.type_bigint(),
} -%}
{%- set contact_keys = ['id', '_dlt_parent_id'] -%}

with

conversations as (

    select * from {{
        journeys.source_columns(
            'intercom', 'conversations', conversation_columns, conversation_keys)
    }}

),

contacts as (

    select * from {{
        journeys.source_columns(
            'intercom', 'conversations__contacts__contacts', contact_columns, contact_keys)
    }}

),

-- the conversation row that stg_intercom__conversations keeps (same rule: latest
-- `updated_at`, then latest load); its list of contacts is the current one
current_conversations as (

    select
        id,
        _dlt_id,
        row_number() over (
            partition by id
            order by updated_at desc nulls last, _dlt_load_id desc nulls last
        ) as version_rank

    from conversations

),

-- the child rows reach their conversation id through dlt's parent key (one record split
-- over two tables, not a join of sources); a contact listed twice keeps its first place
listed as (

    select
        cast(current_conversations.id as {{ dbt.type_string() }}) as intercom_conversation_id,
        cast(contacts.id as {{ dbt.type_string() }}) as intercom_contact_id,
        cast(contacts.external_id as {{ dbt.type_string() }}) as external_id,
        contacts._dlt_list_idx as list_position,
        row_number() over (
            partition by current_conversations.id, contacts.id
            order by contacts._dlt_list_idx
        ) as listing_rank

    from contacts
    inner join current_conversations
        on contacts._dlt_parent_id = current_conversations._dlt_id
    where current_conversations.version_rank = 1

),

final as (

    select
        intercom_conversation_id,
        intercom_contact_id,
        external_id,
        list_position

    from listed
    where listing_rank = 1

)

select * from final
