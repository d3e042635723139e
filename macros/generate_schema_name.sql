{#- Custom schemas are used as named (`staging`, `intermediate`, `marts`), not prefixed
    with the target schema, so analysts query `marts.dim_persons` on every target.
    var `scratch_schema_prefix` (`journeys funnel` sets `adhoc_`) sends the funnel models
    to prefixed schemas, so a funnel tried from the command line never replaces the
    configured funnels' marts. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = var('scratch_schema_prefix', '') or '' -%}
    {%- set is_funnel_model = node is not none and node.resource_type == 'model'
        and 'funnels' in (node.fqn or []) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif prefix and is_funnel_model -%}
        {{ prefix }}{{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
