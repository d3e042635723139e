{#- Seed loading on Spark. dbt-spark 1.11 binds seed values into its INSERT by plain
    `'%s'` substitution on the `session` method: a value with a quote (`the account's`)
    breaks the statement and an empty cell arrives as the text 'None'. This writes each
    value as an escaped Spark literal instead (null for an empty cell), cast to the
    column's type as dbt-spark does; it is correct for every connection method. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                (
                {%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ journeys.spark_seed_literal(row[loop.index0]) }} as {{ type }})
                    {{- "," if not loop.last }}
                {%- endfor -%}
                ){{ "," if not loop.last }}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- the SQL of the first batch, for the compiled files, as dbt's own seeds return -#}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}

{#- A Python value from a seed cell as a Spark SQL literal: strings escaped for Spark's
    backslash escapes, booleans and numbers bare, dates and times quoted. -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is boolean -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- elif value is string -%}
        '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- else -%}
        '{{ value }}'
    {%- endif -%}
{%- endmacro %}
