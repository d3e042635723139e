{#- Helpers for staging models. Engine-specific SQL sits behind adapter.dispatch, as in
    cross_db.sql; models stay portable. -#}

{#- A raw table with exactly the columns a staging model reads (`columns` maps column
    name -> SQL type), whatever the loader has created so far. `required` names the key
    columns (ids, dedup columns and the timestamps a row cannot exist without): the
    model cannot stand without them, and every other column is optional.
    - the table is missing (the source is not configured): `source_or_empty`'s empty
      relation with these columns;
    - the table exists but lacks an optional column: that column reads as a typed null.
      dlt adds a column only when its first non-null value arrives (HubSpot's
      `archived_at` appears with the first archived record, a property nobody has filled
      never appears, a customer's `users` table may have no `churned_at`), so a staging
      model must not depend on every column being there;
    - the table exists but lacks a key column: one compile error naming the model, the
      source table and every missing key column, and what to do;
    - in a dbt unit test, the test's fixture (`source()` is the fixture there, and it has
      to name every column the model reads).
    The source stays declared through `source()` for lineage in every case. -#}
{% macro source_columns(source_name, table_name, columns, required) -%}
    {%- set declared = source(source_name, table_name) -%}
    {%- do journeys.check_required_columns(source_name, table_name, columns, required) -%}
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
            {%- set missing_keys = [] -%}
            {%- for name in required if name | lower not in present -%}
                {%- do missing_keys.append(name) -%}
            {%- endfor -%}
            {%- if missing_keys -%}
                {{ journeys.raise_missing_key_columns(
                    source_name, table_name, found, missing_keys, present) }}
            {%- endif %}
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

{#- A staging model's own mistakes in calling source_columns (caught at parse time). -#}
{% macro check_required_columns(source_name, table_name, columns, required) -%}
    {%- set where = "source_columns('" ~ source_name ~ "', '" ~ table_name ~ "')" -%}
    {%- if required is not iterable or required is string or required | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            where ~ " needs `required`: the list of key columns the model cannot do "
            ~ "without (its ids, dedup columns and event timestamps).") }}
    {%- endif -%}
    {%- for name in required if name not in columns -%}
        {{ exceptions.raise_compiler_error(
            where ~ ": the key column `" ~ name ~ "` is not among the columns the model "
            ~ "reads; add it to `columns` with its type.") }}
    {%- endfor -%}
{%- endmacro %}

{% macro raise_missing_key_columns(source_name, table_name, relation, missing, present) -%}
    {%- set quoted = [] -%}
    {%- for name in missing -%}{%- do quoted.append("`" ~ name ~ "`") -%}{%- endfor -%}
    {%- set one = missing | length == 1 -%}
    {{ exceptions.raise_compiler_error(
        "source table " ~ source_name ~ "." ~ table_name ~ " (" ~ relation ~ ") has no "
        ~ ("column " if one else "columns ") ~ quoted | join(", ") ~ ": " ~ model.name
        ~ " cannot be built without " ~ ("it (a key column" if one else "them (key columns")
        ~ ": rows are identified, deduplicated or placed in time by "
        ~ ("it" if one else "them") ~ "). Optional columns read as null when absent; key "
        ~ "columns do not. Columns found: " ~ present | join(", ") ~ ". Load the table with "
        ~ quoted | join(", ") ~ " (dlt writes column names in snake_case; if the source "
        ~ "system renamed or dropped " ~ ("it" if one else "them") ~ ", fix the loader "
        ~ "first), then build again.") }}
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

{#- Generic test: rows whose value is missing, SEMANTICS.md's way: null, empty or only
    white space (NBSP included) all count as without. -#}
{% test not_blank(model, column_name) %}
    select *
    from {{ model }}
    where {{ journeys.is_blank(column_name) }}
{% endtest %}
