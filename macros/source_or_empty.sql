{#- Every source is optional (DESIGN.md): when a raw table has not been loaded, select an
    empty relation with the expected columns instead, so downstream marts come out empty
    rather than broken. `columns` maps column name -> SQL type. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set declared = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ declared }}
    {%- else -%}
        {%- set found = adapter.get_relation(
            database=declared.database, schema=declared.schema,
            identifier=declared.identifier) -%}
        {%- if found is not none -%}
            {{ declared }}
        {%- else -%}
            {{ log("source " ~ source_name ~ "." ~ table_name
                   ~ " not loaded: using an empty relation", info=true) }}
            (
                select
            {%- for name, type in columns.items() %}
                    cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
            {%- endfor %}
                where 1 = 0
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
