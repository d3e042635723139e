{%- set raw_columns = {
    'from_id': dbt.type_string(),
    'to_id': dbt.type_string(),
    'association_type_id': dbt.type_bigint(),
    'is_removed': dbt.type_boolean(),
} -%}
{#- the key columns of each association table: the pair of ids. The others may be absent
    (`is_removed` is, until a load marks a removal). -#}
{%- set key_columns = ['from_id', 'to_id'] -%}
{#- HubSpot-defined primary association types (SOURCES.md section 3): contact -> company
    1 and deal -> company 5. Vendor constants, not configuration. -#}
{%- set primary_type_ids = [1, 5] -%}

with

contacts as (

    select * from {{ ref('stg_hubspot__contacts') }}

),

companies as (

    select * from {{ ref('stg_hubspot__companies') }}

),

deals as (

    select * from {{ ref('stg_hubspot__deals') }}

),

contact_company as (

    select * from {{
        journeys.source_columns(
            'hubspot', 'contact_company_associations', raw_columns, key_columns)
    }}

),

deal_company as (

    select * from {{
        journeys.source_columns(
            'hubspot', 'deal_company_associations', raw_columns, key_columns)
    }}

),

deal_contact as (

    select * from {{
        journeys.source_columns(
            'hubspot', 'deal_contact_associations', raw_columns, key_columns)
    }}

),

-- the three tables in one shape, each row naming the object types it links
labelled as (

    select
        'contact' as from_object_type,
        from_id,
        'company' as to_object_type,
        to_id,
        association_type_id,
        is_removed

    from contact_company

    union all

    select
        'deal' as from_object_type,
        from_id,
        'company' as to_object_type,
        to_id,
        association_type_id,
        is_removed

    from deal_company

    union all

    select
        'deal' as from_object_type,
        from_id,
        'contact' as to_object_type,
        to_id,
        association_type_id,
        is_removed

    from deal_contact

),

-- HubSpot lists a pair once per label (primary and unlabeled): one row per pair, primary
-- when any of its labels is. `is_removed` marks a load-time deletion (an object that
-- lost all its associations); dlt applies it and never keeps it, and it is no pair.
pairs as (

    select
        from_object_type,
        cast(from_id as {{ dbt.type_string() }}) as from_id,
        to_object_type,
        cast(to_id as {{ dbt.type_string() }}) as to_id,
        coalesce(max(
            case when association_type_id in ({{ primary_type_ids | join(', ') }}) then 1 end
        ), 0) = 1 as is_primary

    from labelled
    where is_removed is null or not is_removed
    group by 1, 2, 3, 4

),

-- Archived records, read from the objects' own flag (the one exception to "staging never
-- joins": dbt's guide joins deletions in staging). An association is read only when its
-- `from` object changes, so when the record on the other side is archived its rows stay
-- in raw untouched; and an archived record's own rows are never read again. Raw keeps
-- them all; staging drops every association with an archived end, whichever side.
archived_objects as (

    select
        'contact' as object_type,
        hubspot_contact_id as object_id

    from contacts
    where is_archived

    union all

    select
        'company' as object_type,
        hubspot_company_id as object_id

    from companies
    where is_archived

    union all

    select
        'deal' as object_type,
        hubspot_deal_id as object_id

    from deals
    where is_archived

),

final as (

    select
        pairs.from_object_type,
        pairs.from_id,
        pairs.to_object_type,
        pairs.to_id,
        pairs.is_primary

    from pairs
    left join archived_objects as archived_from
        on
            pairs.from_object_type = archived_from.object_type
            and pairs.from_id = archived_from.object_id
    left join archived_objects as archived_to
        on
            pairs.to_object_type = archived_to.object_type
            and pairs.to_id = archived_to.object_id
    where archived_from.object_id is null and archived_to.object_id is null

)

select * from final
