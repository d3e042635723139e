{#- Engine-specific SQL lives here, behind adapter.dispatch; models stay portable. -#}

{#- Text value of a top-level key of a JSON column (keys may start with `$`). -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'journeys')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    json_extract_string({{ column }}, '$."{{ key }}"')
{%- endmacro %}

{% macro spark__json_text(column, key) -%}
    get_json_object({{ column }}, '$[\'{{ key }}\']')
{%- endmacro %}

{#- The timestamp type that holds an instant (UTC). -#}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'journeys')()) }}
{%- endmacro %}

{% macro default__type_timestamptz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro spark__type_timestamptz() -%}
    timestamp
{%- endmacro %}

{#- An instant from a raw timestamp column. Raw columns are either instants already or
    naive values holding UTC (the app's `timestamp without time zone`); sessions run in
    UTC (profiles.yml), so one cast reads both correctly. -#}
{% macro to_utc(column) -%}
    cast({{ column }} as {{ journeys.type_timestamptz() }})
{%- endmacro %}

{#- First 16 hex digits of md5 of a text value (stable person ids). -#}
{% macro short_md5(expression) -%}
    substring({{ dbt.hash(expression) }}, 1, 16)
{%- endmacro %}

{#- `materialized` for a CTE read several times, so the engine computes it once
    (DuckDB and Postgres accept the keyword; Spark does not know it). -#}
{% macro cte_materialized() -%}
    {{ return(adapter.dispatch('cte_materialized', 'journeys')()) }}
{%- endmacro %}

{% macro default__cte_materialized() -%}
    materialized
{%- endmacro %}

{% macro spark__cte_materialized() -%}
{%- endmacro %}

{#- A JSON object from (key, SQL expression) pairs: the properties of events that
    Journeys builds itself (CRM touchpoints). Null values are kept as JSON null (Spark's
    to_json leaves them out). -#}
{% macro json_object(pairs) -%}
    {{ return(adapter.dispatch('json_object', 'journeys')(pairs)) }}
{%- endmacro %}

{% macro json_pairs(pairs) -%}
    {%- for key, value in pairs -%}
        '{{ key }}', {{ value }}{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro default__json_object(pairs) -%}
    cast(json_build_object({{ journeys.json_pairs(pairs) }}) as {{ journeys.type_json() }})
{%- endmacro %}

{% macro duckdb__json_object(pairs) -%}
    json_object({{ journeys.json_pairs(pairs) }})
{%- endmacro %}

{% macro spark__json_object(pairs) -%}
    to_json(named_struct({{ journeys.json_pairs(pairs) }}))
{%- endmacro %}

{#- The type of event properties: JSON where the engine has one (Postgres: jsonb, which
    dlt writes and which compares and groups; Spark keeps JSON text). -#}
{% macro type_json() -%}
    {{ return(adapter.dispatch('type_json', 'journeys')()) }}
{%- endmacro %}

{% macro default__type_json() -%}
    json
{%- endmacro %}

{% macro postgres__type_json() -%}
    jsonb
{%- endmacro %}

{% macro spark__type_json() -%}
    string
{%- endmacro %}

{#- The JSON type of a top-level key whose name is a SQL expression (not a literal):
    string, number, boolean, object, array or null (JSON null); SQL null when the key is
    absent. Spark has no JSON type function: it reads the first character of the value. -#}
{% macro json_type_at(column, key_expression) -%}
    {{ return(adapter.dispatch('json_type_at', 'journeys')(column, key_expression)) }}
{%- endmacro %}

{% macro default__json_type_at(column, key_expression) -%}
    json_typeof(cast({{ column }} as json) -> {{ key_expression }})
{%- endmacro %}

{% macro duckdb__json_type_at(column, key_expression) -%}
    case json_type({{ column }}, '$."' || {{ key_expression }} || '"')
        when 'VARCHAR' then 'string'
        when 'BIGINT' then 'number'
        when 'UBIGINT' then 'number'
        when 'DOUBLE' then 'number'
        when 'BOOLEAN' then 'boolean'
        when 'OBJECT' then 'object'
        when 'ARRAY' then 'array'
        when 'NULL' then 'null'
    end
{%- endmacro %}

{% macro spark__json_type_at(column, key_expression) -%}
    case substr(regexp_extract(
        {{ column }}, concat('"', {{ key_expression }}, '"\\s*:\\s*(.)'), 1), 1, 1)
        when '"' then 'string'
        when 't' then 'boolean'
        when 'f' then 'boolean'
        when 'n' then 'null'
        when '{' then 'object'
        when '[' then 'array'
        when '' then null
        else 'number'
    end
{%- endmacro %}

{#- An event name with case and separators dropped (`Signed_Up` -> `signedup`): names
    equal here are one event to a reader (journeys/plan.py's `canonical`). -#}
{% macro canonical_event_name(expression) -%}
    lower(
        replace(replace(replace(replace(replace(replace(
            {{ expression }}, '_', ''), '-', ''), ' ', ''), '.', ''), ':', ''), '/', '')
    )
{%- endmacro %}

{#- Microseconds since the Unix epoch of an instant, as bigint: exact on every engine,
    for comparing instants with windows computed at compile time (funnels). -#}
{% macro epoch_us(column) -%}
    {{ return(adapter.dispatch('epoch_us', 'journeys')(column)) }}
{%- endmacro %}

{% macro default__epoch_us(column) -%}
    cast(round(extract(epoch from {{ column }}) * 1000000) as bigint)
{%- endmacro %}

{% macro duckdb__epoch_us(column) -%}
    epoch_us({{ column }})
{%- endmacro %}

{% macro spark__epoch_us(column) -%}
    unix_micros({{ column }})
{%- endmacro %}

{#- A linear-interpolation percentile (PostgreSQL's percentile_cont) of a numeric
    column, as an aggregate; `fraction` is a constant between 0 and 1. -#}
{% macro percentile_cont(column, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'journeys')(column, fraction)) }}
{%- endmacro %}

{% macro default__percentile_cont(column, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ column }})
{%- endmacro %}

{% macro duckdb__percentile_cont(column, fraction) -%}
    quantile_cont({{ column }}, {{ fraction }})
{%- endmacro %}

{% macro spark__percentile_cont(column, fraction) -%}
    percentile({{ column }}, {{ fraction }})
{%- endmacro %}

{#- An 8-byte float (DuckDB's and Spark's `double`, PostgreSQL's `double precision`). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'journeys')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#- A text literal holding `value` exactly (event names may hold quotes). -#}
{% macro text_literal(value) -%}
    {{ return(adapter.dispatch('text_literal', 'journeys')(value)) }}
{%- endmacro %}

{% macro default__text_literal(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}

{#- Spark reads a backslash in a literal as an escape, and 'a''b' as two literals -#}
{% macro spark__text_literal(value) -%}
    '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{#- Several keys of one JSON column as text columns: `text as alias` for each key of
    `keys` (a dict, key -> alias), comma separated. The same as json_text per key; DuckDB
    reads all of them with one parse of the document (a list of paths, each taken by its
    position: the list is computed once per row), not one parse per key (4x faster for
    nine keys of PostHog's properties). -#}
{% macro json_text_columns(column, keys) -%}
    {{ return(adapter.dispatch('json_text_columns', 'journeys')(column, keys)) }}
{%- endmacro %}

{% macro default__json_text_columns(column, keys) -%}
    {%- for key, alias in keys.items() -%}
        {{ journeys.json_text(column, key) }} as {{ alias }}{{ ",\n" if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro duckdb__json_text_columns(column, keys) -%}
    {%- set paths = [] -%}
    {%- for key in keys -%}{%- do paths.append("'$.\"" ~ key ~ "\"'") -%}{%- endfor -%}
    {%- for key, alias in keys.items() -%}
        json_extract_string({{ column }}, [{{ paths | join(', ') }}])[{{ loop.index }}]
        as {{ alias }}{{ ",\n" if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
