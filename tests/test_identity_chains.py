"""Alias chains of any length resolve, on DuckDB, Postgres and Spark (issue 14, item 2).

User 1 identifies a1, a1 aliases a2, ..., a49 aliases a50: every a_k is k links from
user 1 and belongs to it, and so do the events on a50. Beside it, b1 aliases b2, ...,
b49 aliases b50 without any app user: one component, one anonymous person named after
its smallest node, `distinct_id:b1`. Both chains are far longer than a round of passes,
so the build needs many rounds to reach its fixed point."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

from journeys.dbt import run_dbt
from journeys.paths import DataDir
from tests.identity_graphs import load_raw
from tests.identity_reference import Sources
from tests.test_engines import copy_raw_tables, create_database, target_env

CHAIN = 50
START = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
# worked out by hand: the b chain's smallest node in byte order is `distinct_id:b1`
# ("b1" sorts before "b10".."b19" and "b2".."b50"); its person is anon- + md5 of it
ANON_B = "anon-" + hashlib.md5(b"distinct_id:b1").hexdigest()[:16]
SELECTED = ["--select", "+int_events__unified", "--indirect-selection", "cautious",
            "--exclude", "test_type:unit"]


def chain_sources() -> Sources:
    src = Sources(users=[{"id": 1, "email": "ada@example.io"}])
    serial = iter(range(1, 1000))

    def event(name: str, distinct_id: str, minute: int, **properties: str) -> None:
        src.posthog_events.append({
            "uuid": f"00000000-0000-4000-8000-{next(serial):012d}", "event": name,
            "distinct_id": distinct_id, "person_id": None,
            "ts": START + dt.timedelta(minutes=minute), "properties": properties,
        })

    event("$identify", "1", 0, **{"$anon_distinct_id": "a1"})
    for k in range(1, CHAIN):
        event("$create_alias", f"a{k}", k, alias=f"a{k + 1}")
        event("$create_alias", f"b{k}", k, alias=f"b{k + 1}")
    for minute in (60, 61):
        event("$pageview", f"a{CHAIN}", minute)
        event("$pageview", f"b{CHAIN}", minute)
    return src


def expected_nodes() -> dict[str, tuple[str, str, int | None]]:
    """node -> (person_id, resolution, anchor_cost), by hand."""
    nodes = {"distinct_id:1": ("1", "app_user", 0),
             "email:ada@example.io": ("1", "nearest_app_user", 1)}
    for k in range(1, CHAIN + 1):
        nodes[f"distinct_id:a{k}"] = ("1", "nearest_app_user", k)
        nodes[f"distinct_id:b{k}"] = (ANON_B, "unanchored", None)
    return nodes


def check(nodes: dict, events: dict) -> None:
    assert nodes == expected_nodes()
    on_chain_ends = {uuid: person for uuid, (distinct_id, person) in events.items()
                     if distinct_id in (f"a{CHAIN}", f"b{CHAIN}")}
    assert sorted(on_chain_ends.values()) == ["1", "1", ANON_B, ANON_B]


def read_duckdb(warehouse: Path) -> tuple[dict, dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return read(con.execute)


def read(fetch, nodes_relation: str = "intermediate.int_identity__nodes_resolved",
         events_relation: str = "intermediate.int_events__unified") -> tuple[dict, dict]:
    nodes = {key: (person, resolution, cost) for key, person, resolution, cost in fetch(
        f"select node_key, person_id, resolution, anchor_cost from {nodes_relation}"
    ).fetchall()}
    events = {uuid: (distinct_id, person) for uuid, distinct_id, person in fetch(
        f"select event_id, distinct_id, person_id from {events_relation}").fetchall()}
    return nodes, events


@pytest.fixture(scope="module")
def chain_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("chain-raw") / "raw.duckdb"
    load_raw(raw, chain_sources())
    return raw


def test_chains_of_fifty_resolve_on_duckdb(chain_raw: Path, tmp_path: Path) -> None:
    data = DataDir(tmp_path).ensure()
    data.raw_db.write_bytes(chain_raw.read_bytes())
    result = run_dbt(data, "build", SELECTED, quiet=True)
    assert result.ok, result.statuses
    check(*read_duckdb(data.warehouse_db))


def test_chains_of_fifty_resolve_on_postgres(
    chain_raw: Path, postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = create_database(postgres, "identity_chains")
    assert copy_raw_tables(chain_raw, dsn, tmp_path) > 2 * CHAIN
    target_env(postgres, "identity_chains", monkeypatch)
    result = run_dbt(DataDir(tmp_path / "pg").ensure(), "build", SELECTED, quiet=True)
    assert result.ok, result.statuses
    with psycopg.connect(dsn) as pg:
        check(*read(pg.execute))


# Runs in a child process so its JVM (and the Derby metastore lock) is gone before dbt's
# own Spark session opens the same metastore.
SPARK_LOAD = """
import sys
from pyspark.sql import SparkSession
data, parquet = sys.argv[1], sys.argv[2:]
spark = (SparkSession.builder.enableHiveSupport()
         .config("spark.sql.warehouse.dir", f"{data}/spark-warehouse")
         .config("javax.jdo.option.ConnectionURL",
                 f"jdbc:derby:;databaseName={data}/metastore_db;create=true")
         .config("spark.driver.extraJavaOptions", f"-Dderby.stream.error.file={data}/derby.log")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.ui.enabled", "false").getOrCreate())
for path in parquet:
    schema, table = path.rsplit("/", 1)[1].removesuffix(".parquet").split(".")
    spark.sql(f"create database if not exists {schema}")
    spark.sql(f"create table {schema}.{table} using parquet as "
              f"select * from parquet.`{path}`")
spark.stop()
"""


def load_raw_into_spark(raw_db: Path, data: DataDir) -> None:
    """The raw DuckDB tables as Spark tables in the data dir's warehouse and metastore
    (JSON columns become text, as Spark keeps JSON)."""
    exported = []
    with duckdb.connect(str(raw_db), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             "where table_schema like 'raw_%'").fetchall()
        for schema, table in tables:
            path = data.root / f"{schema}.{table}.parquet"
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ?", [schema, table]).fetchall()
            select = ", ".join(f'cast("{name}" as varchar) as "{name}"' if kind == "JSON"
                               else f'"{name}"' for name, kind in columns)
            con.execute(f"copy (select {select} from {schema}.{table}) to '{path}' "
                        "(format parquet)")
            exported.append(str(path))
    subprocess.run([sys.executable, "-c", SPARK_LOAD, str(data.root), *exported],
                   check=True, capture_output=True)


@pytest.mark.spark
def test_chains_of_fifty_resolve_on_spark(
    chain_raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = DataDir(tmp_path).ensure()
    load_raw_into_spark(chain_raw, data)
    monkeypatch.setenv("JOURNEYS_TARGET", "spark")
    result = run_dbt(data, "build", SELECTED, quiet=True)
    assert result.ok, result.statuses
    # dbt-spark writes parquet tables under the data dir: read them back with DuckDB
    warehouse = data.root / "spark-warehouse"
    with duckdb.connect() as con:
        def fetch(sql: str):
            for name in ("int_identity__nodes_resolved", "int_events__unified"):
                sql = sql.replace(f"intermediate.{name}",
                                  f"read_parquet('{warehouse}/intermediate.db/{name}/*.parquet')")
            return con.execute(sql)
        check(*read(fetch))
