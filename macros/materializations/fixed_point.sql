{#- A table built by repeating its query until it reaches a fixed point.

    The identity graph's two searches (nearest app users, connected components) need as
    many passes as their longest chain of links, which no fixed count covers. A model
    materialized `fixed_point` runs a round of passes; while any row says the round's
    last pass still changed something (`is_converged` false), it runs another round that
    starts where the last one stopped. Each round reads the previous round's rows through
    `journeys.fixed_point_carry(carried_columns)`: the model's `carried_columns` config
    lists them and their types (text, bigint). The first round and unit tests read no
    rows there.

    This is a loop outside SQL rather than a recursive CTE because Spark (4.x) allows no
    aggregate or window over a recursive reference, and relaxation needs both; one loop
    keeps a single code path on DuckDB, Postgres and Spark. The searches only ever improve
    their rows (lower costs, more tied users, smaller labels), so a round that is not the
    last changes some row; one that changes none yet is not converged would repeat for
    ever, and fails the build instead, naming the model. -#}

{#- The relation holding the previous round's rows. -#}
{% macro fixed_point_carry_relation() -%}
    {{ return(this.incorporate(path={'identifier': this.identifier ~ '__fixed_point_carry'},
                               type='table')) }}
{%- endmacro %}

{#- A select of no rows with the carried columns and their types. -#}
{% macro fixed_point_no_rows(carried_columns) -%}
    (
        select
        {%- for name, type in carried_columns.items() %}
            cast(null as {{ journeys.fixed_point_type(type) }}) as {{ name }}
            {{- "," if not loop.last }}
        {%- endfor %}
        where 1 = 0
    )
{%- endmacro %}

{% macro fixed_point_type(type) -%}
    {%- if type == 'text' -%}
        {{ dbt.type_string() }}
    {%- elif type == 'bigint' -%}
        {{ dbt.type_bigint() }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "carried_columns: type '" ~ type ~ "' is not text or bigint (" ~ this ~ ")") }}
    {%- endif -%}
{%- endmacro %}

{#- What a model reads for the previous round's rows: the carry table when it runs as a
    fixed_point model, else no rows (a unit test runs the model's query once). Pass the
    same `carried_columns` as the config. -#}
{% macro fixed_point_carry(carried_columns) -%}
    {%- if execute and model.resource_type == 'model'
        and config.get('materialized') == 'fixed_point' -%}
        {{ journeys.fixed_point_carry_relation() }}
    {%- else -%}
        {{ journeys.fixed_point_no_rows(carried_columns) }}
    {%- endif -%}
{%- endmacro %}

{% macro fixed_point_create(relation, select_sql) -%}
    {% do adapter.drop_relation(relation) %}
    {% call statement('fixed_point_create') -%}
        {{ get_create_table_as_sql(False, relation, select_sql) }}
    {%- endcall %}
{%- endmacro %}

{#- The number a count(*) query returns. -#}
{% macro fixed_point_count(sql) -%}
    {{ return(run_query(sql).columns[0].values()[0] | int) }}
{%- endmacro %}

{% materialization fixed_point, default %}
    {%- set carried = config.get('carried_columns') -%}
    {%- if not carried -%}
        {{ exceptions.raise_compiler_error(
            this ~ ": a fixed_point model needs `carried_columns` (name: text | bigint)") }}
    {%- endif -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
    {%- set carry_relation = journeys.fixed_point_carry_relation() -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {#- round 1 starts from nothing carried -#}
    {{ journeys.fixed_point_create(carry_relation, journeys.fixed_point_no_rows(carried)) }}
    {%- set columns = carried.keys() | join(", ") -%}
    {%- set unconverged_sql = "select count(*) from " ~ intermediate_relation
        ~ " where not is_converged" -%}
    {%- set moved_sql = "select count(*) from (select " ~ columns ~ " from "
        ~ intermediate_relation ~ " except select " ~ columns ~ " from " ~ carry_relation
        ~ ") as moved" -%}
    {%- set rounds = namespace(done=0, unconverged=1) -%}

    {#- each further round starts from the previous round's rows -#}
    {%- for _ in range(100000) -%}
        {%- if rounds.unconverged == 0 -%}
            {%- break -%}
        {%- endif -%}
        {%- if rounds.done > 0 -%}
            {{ journeys.fixed_point_create(carry_relation,
                "select " ~ columns ~ " from " ~ intermediate_relation) }}
        {%- endif -%}
        {% do adapter.drop_relation(intermediate_relation) %}
        {%- call statement('main') -%}
            {{ get_create_table_as_sql(False, intermediate_relation, sql) }}
        {%- endcall -%}
        {%- set rounds.done = rounds.done + 1 -%}
        {%- set rounds.unconverged = journeys.fixed_point_count(unconverged_sql) -%}
        {#- a round that changed no row yet is not converged would repeat for ever -#}
        {%- if rounds.unconverged > 0 and rounds.done > 1
            and journeys.fixed_point_count(moved_sql) == 0 -%}
            {{ exceptions.raise_compiler_error(
                this ~ ": round " ~ rounds.done ~ " changed no row, yet " ~ rounds.unconverged
                ~ " rows are not converged. A fixed_point model must start each round from"
                ~ " journeys.fixed_point_carry(carried_columns) and carry every column its"
                ~ " passes need; check carried_columns.") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if rounds.unconverged > 0 -%}
        {{ exceptions.raise_compiler_error(
            this ~ ": no fixed point after " ~ rounds.done ~ " rounds") }}
    {%- endif -%}
    {{ log(this ~ ": fixed point after " ~ rounds.done ~ " round(s)") }}

    {#- leave the carry table empty: it holds nothing between builds -#}
    {{ journeys.fixed_point_create(carry_relation, journeys.fixed_point_no_rows(carried)) }}
    {%- if existing_relation is not none -%}
        {% do adapter.drop_relation(existing_relation) %}
    {%- endif -%}
    {{ adapter.rename_relation(intermediate_relation, target_relation) }}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
