{#- Helpers for staging models. Engine-specific SQL sits behind adapter.dispatch, as in
    cross_db.sql; models stay portable. -#}

{#- A raw table with exactly the columns a staging model reads (`columns` maps column
    name -> SQL type), whatever the loader has created so far:
    - the table is missing (the source is not configured): `source_or_empty`'s empty
      relation with these columns;
    - the table exists but lacks a column: that column reads as a typed null. dlt adds a
      column only when its first non-null value arrives (HubSpot's `archived_at` appears
      with the first archived record, a property nobody has filled never appears), so a
      staging model must not depend on every column being there;
    - in a dbt unit test, the test's fixture (`source()` is the fixture there, and it has
      to name every column the model reads).
    The source stays declared through `source()` for lineage in every case. -#}
{% macro source_columns(source_name, table_name, columns) -%}
    {%- set declared = source(source_name, table_name) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ declared }}
    {%- else -%}
        {%- set found = adapter.get_relation(
            database=declared.database, schema=declared.schema,
            identifier=declared.identifier) -%}
        {%- if found is none -%}
            {{ journeys.source_or_empty(source_name, table_name, columns) }}
        {%- else -%}
            {%- set present = adapter.get_columns_in_relation(found)
                | map(attribute='name') | map('lower') | list -%}
            (
                select
            {%- for name, type in columns.items() %}
                {%- if name | lower in present %}
                    {{ adapter.quote(name) }}{{ "," if not loop.last }}
                {%- else %}
                    cast(null as {{ type }}) as {{ adapter.quote(name) }}{{ "," if not loop.last }}
                {%- endif %}
            {%- endfor %}
                from {{ found }}
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- An instant (UTC) from whole seconds since the Unix epoch (Intercom's times). -#}
{% macro from_unix_seconds(column) -%}
    {{ return(adapter.dispatch('from_unix_seconds', 'journeys')(column)) }}
{%- endmacro %}

{% macro default__from_unix_seconds(column) -%}
    (cast('1970-01-01 00:00:00+00:00' as {{ journeys.type_timestamptz() }})
        + {{ column }} * interval '1 second')
{%- endmacro %}

{% macro duckdb__from_unix_seconds(column) -%}
    to_timestamp({{ column }})
{%- endmacro %}

{% macro postgres__from_unix_seconds(column) -%}
    to_timestamp({{ column }})
{%- endmacro %}

{% macro spark__from_unix_seconds(column) -%}
    timestamp_seconds({{ column }})
{%- endmacro %}

{#- A number from text such as HubSpot's property values (`"1500.00"`). Empty or blank
    text is null, and so is text that is not a number: HubSpot validates number
    properties, and one odd value must not fail every model built on this source. -#}
{% macro text_to_number(column, type=none) -%}
    {{ return(adapter.dispatch('text_to_number', 'journeys')(column, type or dbt.type_numeric())) }}
{%- endmacro %}

{% macro default__text_to_number(column, type) -%}
    case
        when trim({{ column }}) ~ '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$'
            then cast(trim({{ column }}) as {{ type }})
    end
{%- endmacro %}

{% macro duckdb__text_to_number(column, type) -%}
    try_cast(nullif(trim({{ column }}), '') as {{ type }})
{%- endmacro %}

{% macro spark__text_to_number(column, type) -%}
    try_cast(nullif(trim({{ column }}), '') as {{ type }})
{%- endmacro %}

{#- A boolean from HubSpot's `"true"` / `"false"` text (any case); anything else is null. -#}
{% macro text_to_boolean(column) -%}
    case lower(trim({{ column }}))
        when 'true' then true
        when 'false' then false
    end
{%- endmacro %}
