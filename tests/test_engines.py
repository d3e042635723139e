"""The same models on PostgreSQL and Spark. On a real Postgres server (pgserver) every
model, unit test and data test builds, and on the same raw data Postgres resolves exactly
the persons, events and sessions DuckDB does. On Spark (dbt-spark's in-process session,
marker `spark`, `make test-spark`) every model, unit test and data test builds.

The DuckDB answers are checked against tests/reference.py elsewhere (test_core_marts,
test_warehouse); here the engines must agree row for row, so engine-specific SQL (JSON,
Unicode trimming, byte-order collation, md5, timestamps) cannot drift apart."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import duckdb
import psycopg
import pytest

from journeys.dbt import run_dbt
from journeys.paths import DataDir

# DuckDB type of a raw column -> the Postgres type dlt gives it on a Postgres destination
PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "DOUBLE": "double precision",
    "JSON": "jsonb",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "TIMESTAMP": "timestamp without time zone",
}

# the marts and the identity graph, each with a key that orders its rows
COMPARED = {
    "intermediate.int_identity__nodes_resolved": "node_key",
    "marts.dim_persons": "person_id",
    "marts.fct_events": "event_id",
    "marts.fct_sessions": "session_id",
    "marts.fct_tracking_plan_coverage": "event_name",
    "marts.fct_funnel_persons": "funnel_name,person_id",
    "marts.fct_funnel_steps": "funnel_name,breakdown_value,step_number",
}


def target_env(dsn: str, database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point profiles.yml's `postgres` output at the embedded server."""
    url = urlparse(dsn)
    monkeypatch.setenv("JOURNEYS_TARGET", "postgres")
    monkeypatch.setenv("JOURNEYS_PG_HOST", parse_qs(url.query)["host"][0])
    monkeypatch.setenv("JOURNEYS_PG_USER", url.username or "postgres")
    monkeypatch.setenv("JOURNEYS_PG_DATABASE", database)


def create_database(dsn: str, name: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f'drop database if exists "{name}"')
        con.execute(f'create database "{name}"')
    return dsn.replace("/postgres?", f"/{name}?")


def copy_raw_tables(raw_db: Path, dsn: str, scratch: Path) -> int:
    """Every table of the raw_* schemas of a DuckDB landing file, into Postgres with the
    types dlt's Postgres destination uses (JSON as jsonb). Returns the rows copied."""
    copied = 0
    with duckdb.connect(str(raw_db), read_only=True) as src, psycopg.connect(dsn) as dst:
        tables = src.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'raw\\_%' escape '\\' "
            "and table_schema not like '%\\_staging' escape '\\' order by all"
        ).fetchall()
        for schema, table in tables:
            columns = src.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            ddl = ", ".join(f'"{name}" {PG_TYPES[kind]}' for name, kind in columns)
            dst.execute(f'create schema if not exists "{schema}"')
            dst.execute(f'create table "{schema}"."{table}" ({ddl})')
            csv_file = scratch / f"{schema}.{table}.csv"
            src.execute(f"copy \"{schema}\".\"{table}\" to '{csv_file}' (header, format csv)")
            with (dst.cursor() as cur, open(csv_file, "rb") as handle,
                  cur.copy(f'copy "{schema}"."{table}" from stdin (format csv, header)') as copy):
                while block := handle.read(1 << 20):
                    copy.write(block)
            copied += src.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
    return copied


def comparable(value: object) -> object:
    """One value as both engines' drivers can agree on it."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if isinstance(value, float | decimal.Decimal):
        return round(float(value), 6)
    return value


def rows_of(fetch, relation: str, key: str) -> tuple[list[str], list[tuple]]:
    """The relation's rows, ordered by `key` (columns, comma-separated) in Python (the
    engines' collations differ)."""
    cursor = fetch(f"select * from {relation}")
    names = [d[0] for d in cursor.description]
    rows = [tuple(comparable(v) for v in row) for row in cursor.fetchall()]
    positions = [names.index(column) for column in key.split(",")]
    return names, sorted(rows, key=lambda row: tuple(row[i] for i in positions))


def test_every_model_unit_test_and_data_test_builds_on_postgres(
    postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing ingested: every source reads as empty, and the build runs every unit test
    (the identity rules among them) on Postgres."""
    create_database(postgres, "empty_build")
    target_env(postgres, "empty_build", monkeypatch)
    result = run_dbt(DataDir(tmp_path).ensure(), "build", quiet=True)
    assert result.ok, result.statuses
    assert result.count("unit_test", "pass") >= 29
    assert result.count("model", "success") >= 20


@pytest.mark.heavy
def test_postgres_resolves_the_same_persons_events_and_sessions_as_duckdb(
    full_warehouse, postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = full_warehouse
    dsn = create_database(postgres, "same_data")
    assert copy_raw_tables(data.raw_db, dsn, tmp_path) > 10_000
    target_env(postgres, "same_data", monkeypatch)
    result = run_dbt(DataDir(tmp_path / "pg").ensure(), "build", quiet=True)
    assert result.ok, result.statuses

    with (duckdb.connect(str(data.warehouse_db), read_only=True) as duck,
          psycopg.connect(dsn) as pg):
        for relation, key in COMPARED.items():
            duck_names, duck_rows = rows_of(duck.execute, relation, key)
            pg_names, pg_rows = rows_of(pg.execute, relation, key)
            assert pg_names == duck_names, relation
            assert len(pg_rows) == len(duck_rows) > 0, relation
            differing = [(d, p) for d, p in zip(duck_rows, pg_rows, strict=True) if d != p]
            assert differing == [], f"{relation}: {len(differing)} differ, first {differing[0]}"


@pytest.mark.spark
def test_every_model_unit_test_and_data_test_builds_on_spark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same build on Spark (dbt-spark's in-process session, `make test-spark`):
    nothing ingested, so every source reads as empty and the build runs every unit test
    (the identity rules among them) on Spark SQL."""
    monkeypatch.setenv("JOURNEYS_TARGET", "spark")
    data = DataDir(tmp_path).ensure()
    result = run_dbt(data, "build", quiet=True)
    assert result.ok, result.statuses
    assert result.count("unit_test", "pass") >= 32
    assert result.count("model", "success") >= 23
    assert (data.root / "spark-warehouse").is_dir()  # the warehouse lives in the data dir
