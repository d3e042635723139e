{#- The plain name of a versioned mart answers with its latest version.

    A versioned model materialises as `<name>_v<N>` (dbt's default alias), so
    `marts.dim_persons_v1` and `marts.dim_persons_v2` both exist while v1 is supported.
    This post-hook (dbt_project.yml, marts) runs after each version builds; on the latest
    version it (re)creates the view `<name>` over it, the pattern dbt's model-versions docs
    give until the pointer is built in (dbt 1.12's beta `latest_version_pointer`).
    Analysts' SQL names `marts.dim_persons` and keeps working when v3 becomes the latest.

    Whatever held the plain name before (a table from a warehouse built before marts
    were versioned, or a view) is dropped first: `create or replace view` cannot replace
    a table, and Postgres refuses to replace a view whose columns changed. The view's
    body names the schema, not the database, so it still reads right when the DuckDB
    file is attached under another name. On other versions it renders nothing. -#}
{% macro publish_latest_version() -%}
    {%- if execute and model.version is not none
        and model.version | string == model.latest_version | string -%}
        {%- set pointer = api.Relation.create(
            database=this.database, schema=this.schema, identifier=model.name,
            type='view') -%}
        {%- set existing = adapter.get_relation(
            database=this.database, schema=this.schema, identifier=model.name) -%}
        {%- if existing is not none -%}
            {%- do adapter.drop_relation(existing) -%}
        {%- endif -%}
        create view {{ pointer }} as select * from {{ this.include(database=false) }}
    {%- endif -%}
{%- endmacro %}
