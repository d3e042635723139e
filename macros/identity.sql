{#- Identity helpers (SEMANTICS.md, Identity). Engine-specific parts go through dispatch. -#}

{#- Unicode white space as Python's str.strip() and SEMANTICS.md's email rule mean it:
    ASCII space and controls, NBSP and the other Unicode spaces (code points). -#}
{% macro unicode_space_code_points() -%}
    {{ return([32, 9, 10, 11, 12, 13, 28, 29, 30, 31, 133, 160, 5760, 8192, 8193, 8194, 8195,
               8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288]) }}
{%- endmacro %}

{#- The value with Unicode white space trimmed at both ends. -#}
{% macro trim_unicode(column) -%}
    {{ return(adapter.dispatch('trim_unicode', 'journeys')(column)) }}
{%- endmacro %}

{% macro default__trim_unicode(column) -%}
    {%- set spaces = [] -%}
    {%- for code_point in journeys.unicode_space_code_points() -%}
        {%- do spaces.append("chr(" ~ code_point ~ ")") -%}
    {%- endfor -%}
    trim(both {{ spaces | join(" || ") }} from {{ column }})
{%- endmacro %}

{% macro spark__trim_unicode(column) -%}
    {#- Spark's chr() wraps above 255: a Java regex names the same set -#}
    regexp_replace({{ column }}, '^[\\s\\p{Z}\\x{85}]+|[\\s\\p{Z}\\x{85}]+$', '')
{%- endmacro %}

{#- A normalised email: Unicode white space trimmed at both ends, Unicode lower-cased;
    nothing else. Blank becomes null (it makes no node). -#}
{% macro normalise_email(column) -%}
    nullif(lower({{ journeys.trim_unicode(column) }}), '')
{%- endmacro %}

{#- True when a value would make no node: null, empty or only white space. -#}
{% macro is_blank(column) -%}
    ({{ column }} is null or {{ journeys.trim_unicode(column) }} = '')
{%- endmacro %}

{#- PostHog's illegal distinct_ids (they link nothing): case-insensitive words, exact
    values, each also wrapped in double or single quotes. -#}
{% macro is_illegal_distinct_id(column) -%}
    {%- set unquoted -%}
        case
            when length({{ column }}) >= 2
                and substring({{ column }}, 1, 1) in ('"', '''')
                and substring({{ column }}, length({{ column }}), 1)
                = substring({{ column }}, 1, 1)
                then substring({{ column }}, 2, length({{ column }}) - 2)
            else {{ column }}
        end
    {%- endset -%}
    (
        {{ journeys.is_blank(column) }}
        or lower({{ unquoted }}) in (
            'anonymous', 'guest', 'distinctid', 'distinct_id', 'id', 'not_authenticated',
            'email', 'undefined', 'true', 'false'
        )
        or {{ unquoted }} in ('[object Object]', 'NaN', 'None', 'none', 'null', '0')
    )
{%- endmacro %}

{#- Strings compared in byte order (Postgres compares by collation otherwise). -#}
{% macro byte_order(expression) -%}
    {{ return(adapter.dispatch('byte_order', 'journeys')(expression)) }}
{%- endmacro %}

{% macro default__byte_order(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__byte_order(expression) -%}
    ({{ expression }} collate "C")
{%- endmacro %}

{#- Passes per round of the identity graph's searches (var `identity_passes_per_round`):
    a round compares its last two passes, so it needs two at least. -#}
{% macro identity_passes_per_round() -%}
    {%- set passes = var('identity_passes_per_round') | int -%}
    {%- if passes < 2 -%}
        {{ exceptions.raise_compiler_error(
            "var identity_passes_per_round is " ~ passes ~ ": set it to 2 or more") }}
    {%- endif -%}
    {{ return(passes) }}
{%- endmacro %}
