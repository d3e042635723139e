{#- The customer's data quality, listed row by row (fct_data_quality_issues).

    A data test has one of two jobs. Tests that guard our own models (keys unique after
    dedup, not null where the loaders or the models guarantee a value, relationships the
    models build) are `severity: error`: a failure is our bug and stops the build. Tests
    that describe the customer's data (a user without email or signup time, a plan or a
    CRM stage outside the known list, an event of a user the users table lacks) are
    `severity: warn`: the build goes on, dbt prints how many rows each one found, and
    fct_data_quality_issues lists those rows. The warn tests are the single list of
    rules: the model reads them from dbt's graph, so a rule added in a _models.yml is
    counted without touching SQL. -#}

{#- The generic `severity: warn` tests attached to models, as checks to list (each with
    its model, column, rule, arguments and the model's row key), in a stable order. Empty
    while dbt parses. Singular warn tests (the tracking plan's) are not listed here:
    fct_tracking_plan_coverage names what they find. -#}
{% macro data_quality_checks() -%}
    {%- set checks = [] -%}
    {%- if not execute -%}
        {{ return(checks) }}
    {%- endif -%}
    {%- set tests = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'test')
        | sort(attribute='unique_id') -%}
    {%- for test in tests
        if test.config.severity | lower == 'warn'
        and test.test_metadata
        and (test.attached_node or '').startswith('model.') -%}
        {%- set rule = test.test_metadata.name -%}
        {%- set arguments = test.test_metadata.kwargs -%}
        {%- if rule not in ['not_null', 'not_blank', 'accepted_values', 'relationships'] -%}
            {{ exceptions.raise_compiler_error(
                "fct_data_quality_issues cannot list the rows of " ~ test.name ~ " (a `"
                ~ rule ~ "` test with severity warn): teach journeys.data_quality_rows in "
                ~ "macros/data_quality.sql that rule, or make the test severity error.") }}
        {%- endif -%}
        {%- set model_node = graph.nodes[test.attached_node] -%}
        {%- do checks.append({
            'test_name': test.name,
            'model': model_node.name,
            'column': arguments.column_name,
            'rule': rule,
            'where': test.config.where,
            'values': arguments.get('values', []),
            'quote': arguments.get('quote', true),
            'to': journeys.ref_name(arguments.get('to')),
            'field': arguments.get('field'),
            'row_key': journeys.row_key(test.attached_node),
        }) -%}
    {%- endfor -%}
    {{ return(checks) }}
{%- endmacro %}

{#- `ref('name')` (a relationships test's `to`) -> name. -#}
{% macro ref_name(expression) -%}
    {%- if expression is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(expression | replace('"', "'") | replace("ref(", "") | replace(")", "")
        | replace("'", "") | trim) }}
{%- endmacro %}

{#- A model's row key: the column (or expression) of its `unique` test; null if none. -#}
{% macro row_key(model_id) -%}
    {%- for test in graph.nodes.values() | sort(attribute='unique_id')
        if test.resource_type == 'test' and test.attached_node == model_id
        and test.test_metadata and test.test_metadata.name == 'unique' -%}
        {{ return(test.test_metadata.kwargs.column_name) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#- The rows one check finds, in fct_data_quality_issues' shape. The conditions are the
    ones dbt's own tests use, so the rows match the count dbt printed. -#}
{% macro data_quality_rows(check) -%}
    {%- set column = 'checked.' ~ check.column -%}
    {%- set parents = '' -%}
    {%- if check.rule == 'relationships' -%}
        {%- set parents = 'left join (select ' ~ check.field ~ ' as parent_key from '
            ~ ref(check.to) ~ ') as parents on ' ~ column ~ ' = parents.parent_key' -%}
        {%- set condition = column ~ ' is not null and parents.parent_key is null' -%}
    {%- elif check.rule == 'not_null' -%}
        {%- set condition = column ~ ' is null' -%}
    {%- elif check.rule == 'not_blank' -%}
        {%- set condition = journeys.is_blank(column) -%}
    {%- else -%}
        {%- set accepted = [] -%}
        {%- for value in check['values'] -%}
            {%- do accepted.append("'" ~ value ~ "'" if check.quote else value | string) -%}
        {%- endfor -%}
        {%- set condition = column ~ ' not in (' ~ accepted | join(', ') ~ ')' -%}
    {%- endif -%}
    select
        '{{ check.test_name }}' as test_name,
        '{{ check.model }}' as model_name,
        '{{ check.column }}' as column_name,
        '{{ check.rule }}' as rule_name,
        cast({{ check.row_key or 'null' }} as {{ dbt.type_string() }}) as row_key,
        cast({{ column }} as {{ dbt.type_string() }}) as offending_value
    from (
        select * from {{ ref(check.model) }} {{ 'where ' ~ check.where if check.where }}
    ) as checked
    {{ parents }}
    where {{ condition }}
{%- endmacro %}
