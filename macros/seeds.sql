{#- Seed loading on Spark. dbt-spark 1.11 binds seed values into its INSERT by plain
    `'%s'` substitution on the `session` method: a value with a quote (`the account's`)
    breaks the statement and an empty cell arrives as the text 'None'. This writes each
    value as an escaped Spark literal instead (null for an empty cell), cast to the
    column's type as dbt-spark does; it is correct for every connection method. -#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set column_types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do column_types.append(
            column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set rows = [] -%}
        {%- for row in chunk -%}
            {%- set values = [] -%}
            {%- for value in row -%}
                {%- do values.append('cast(' ~ journeys.spark_seed_literal(value)
                    ~ ' as ' ~ column_types[loop.index0] ~ ')') -%}
            {%- endfor -%}
            {%- do rows.append('(' ~ values | join(', ') ~ ')') -%}
        {%- endfor -%}
        {%- set sql = 'insert into ' ~ this.render() ~ ' values\n' ~ rows | join(',\n') -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- do statements.append(sql) -%}
    {%- endfor -%}
    {#- the SQL of the first batch, for the compiled files, as dbt's own seeds return -#}
    {{ return(statements[0] if statements else '') }}
{%- endmacro %}

{#- A Python value from a seed cell as a Spark SQL literal: strings escaped for Spark's
    backslash escapes, booleans and numbers bare, dates and times quoted. -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        {{ return('null') }}
    {%- elif value is boolean -%}
        {{ return('true' if value else 'false') }}
    {%- elif value is number -%}
        {{ return(value | string) }}
    {%- elif value is string -%}
        {{ return("'" ~ value | replace("\\", "\\\\") | replace("'", "\\'") ~ "'") }}
    {%- else -%}
        {{ return("'" ~ value ~ "'") }}
    {%- endif -%}
{%- endmacro %}
