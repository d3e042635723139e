{#- Session helpers (SEMANTICS.md, Sessions). Engine-specific parts go through dispatch. -#}

{#- Seconds from one instant to a later one, as a double with the fraction kept
    (microsecond exact): session gaps are compared and durations reported with it, so a
    gap of 30 min + 1 ms is more than 30 minutes on every engine (no truncation to whole
    seconds as `dbt.datediff` does on some). -#}
{% macro seconds_between(start_at, end_at) -%}
    {{ return(adapter.dispatch('seconds_between', 'journeys')(start_at, end_at)) }}
{%- endmacro %}

{#- Postgres (and engines with an `extract(epoch from interval)`): exact numeric seconds -#}
{% macro default__seconds_between(start_at, end_at) -%}
    cast(extract(epoch from ({{ end_at }} - {{ start_at }})) as double precision)
{%- endmacro %}

{% macro duckdb__seconds_between(start_at, end_at) -%}
    (cast(epoch_us({{ end_at }}) - epoch_us({{ start_at }}) as double) / 1000000)
{%- endmacro %}

{% macro spark__seconds_between(start_at, end_at) -%}
    (cast(unix_micros({{ end_at }}) - unix_micros({{ start_at }}) as double) / 1000000)
{%- endmacro %}
