"""The app's Postgres pipeline against a real PostgreSQL server (pgserver): full and
incremental loads, exactly the new and changed rows, late commits inside the lag,
Prisma-style names, schema drift, a run killed midway, and secrets kept out of errors."""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb
import psycopg
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from journeys.ingest import IngestError, run_source
from journeys.paths import DataDir
from journeys.postgres import load_app_tables
from pipelines.app_postgres import app_postgres


@pytest.fixture
def app_schema(postgres: str, generated, request: pytest.FixtureRequest) -> str:
    """A fresh schema holding the generated users/events for this test."""
    schema = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(f'drop schema if exists "{schema}" cascade')
    load_app_tables(postgres, generated[0] / "app", schema=schema)
    return schema


def execute(dsn: str, schema: str, *statements: str) -> None:
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        cur.execute(f'set search_path to "{schema}"')
        for statement in statements:
            cur.execute(statement)


def pipeline(tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        "app_pg_test",
        destination=dlt.destinations.duckdb(str(tmp_path / "raw.duckdb")),
        dataset_name="raw_app",
        pipelines_dir=str(tmp_path / "pl"),
    )


def raw(tmp_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "raw.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def extracted(p: dlt.Pipeline) -> dict[str, int]:
    counts = (
        dict(p.last_trace.last_normalize_info.row_counts)
        if p.last_trace.last_normalize_info
        else {}
    )
    counts.pop("_dlt_pipeline_state", None)
    return counts


def test_full_load_then_exactly_the_new_and_changed_rows(
    postgres, app_schema, reference, tmp_path
) -> None:
    p = pipeline(tmp_path)
    p.run(app_postgres(credentials=postgres, schema=app_schema, lag_seconds=0))
    assert raw(tmp_path, "select count(*) from raw_app.users") == [(len(reference.users),)]
    assert raw(tmp_path, "select count(*) from raw_app.events") == [(len(reference.app_events),)]
    # the app changes two users and records three new events
    execute(
        postgres,
        app_schema,
        "update users set plan = 'team', updated_at = (select max(updated_at) from users)"
        " + interval '1 hour' where id in (10000, 10001)",
        "insert into events (id, user_id, name, properties, created_at) "
        "select 900000 + i, 10002, 'report_generated', '{\"report_type\": \"weekly\"}', "
        "(select max(created_at) from events) + i * interval '1 minute' "
        "from generate_series(1, 3) as i",
    )
    p.run(app_postgres(credentials=postgres, schema=app_schema, lag_seconds=0))
    assert extracted(p) == {"users": 2, "events": 3}
    assert raw(tmp_path, "select count(*) from raw_app.users") == [(len(reference.users),)]
    assert raw(tmp_path, "select count(*) from raw_app.events") == [
        (len(reference.app_events) + 3,)
    ]
    assert raw(
        tmp_path, "select id, plan from raw_app.users where id in (10000, 10001) order by id"
    ) == [(10000, "team"), (10001, "team")]
    assert raw(
        tmp_path,
        "select json_extract_string(properties, '$.report_type') "
        "from raw_app.events where id = 900002",
    ) == [("weekly",)]


def test_a_rerun_adds_nothing_and_a_late_commit_inside_the_lag_is_caught(
    postgres, app_schema, reference, tmp_path
) -> None:
    p = pipeline(tmp_path)
    p.run(app_postgres(credentials=postgres, schema=app_schema, lag_seconds=60))
    p.run(app_postgres(credentials=postgres, schema=app_schema, lag_seconds=60))
    assert raw(tmp_path, "select count(*), count(distinct id) from raw_app.events") == [
        (len(reference.app_events), len(reference.app_events))
    ]
    # a long transaction commits an event stamped 30 s before the last cursor value
    execute(
        postgres,
        app_schema,
        "insert into events (id, user_id, name, properties, created_at) values "
        "(910000, 10003, 'file_uploaded', '{}', "
        "(select max(created_at) from events) - interval '30 seconds')",
    )
    p.run(app_postgres(credentials=postgres, schema=app_schema, lag_seconds=60))
    assert raw(tmp_path, "select count(*) from raw_app.events where id = 910000") == [(1,)]
    assert raw(tmp_path, "select count(*), count(distinct id) from raw_app.events") == [
        (len(reference.app_events) + 1, len(reference.app_events) + 1)
    ]


def test_prisma_style_tables_and_rows_without_keys(postgres, tmp_path) -> None:
    schema = "prisma_app"
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(f'drop schema if exists "{schema}" cascade')
    execute(
        postgres,
        "public",
        f'create schema "{schema}"',
        f'create table "{schema}"."User" (id bigint primary key, email text, '
        '"signedUpAt" timestamp(3) not null, "updatedAt" timestamp(3) not null)',
        f'create table "{schema}"."Event" (id bigint primary key, "userId" bigint, '
        'name text, properties jsonb, "createdAt" timestamp(3) not null)',
        f"insert into \"{schema}\".\"User\" values (1, 'a@x.io', '2026-05-01 10:00', "
        "'2026-05-01 10:00'), (2, 'b@x.io', '2026-05-02 10:00', '2026-05-02 10:00')",
        f'insert into "{schema}"."Event" values '
        "(1, 1, 'signed_up', '{}', '2026-05-01 10:00'), "
        "(2, null, 'signed_up', '{}', '2026-05-02 10:00'), "
        "(3, 2, 'workspace_created', '{\"template\": \"blank\"}', '2026-05-02 10:05')",
    )
    p = pipeline(tmp_path)
    p.run(
        app_postgres(
            credentials=postgres,
            schema=schema,
            users_table="User",
            events_table="Event",
            users_cursor="updatedAt",
            events_cursor="createdAt",
        )
    )
    assert raw(tmp_path, "select id, signed_up_at from raw_app.users order by id")[0][0] == 1
    assert raw(tmp_path, "select id, user_id from raw_app.events order by id") == [(1, 1), (3, 2)]
    assert raw(tmp_path, "select location, position, reason from raw_app._rejected_records") == [
        (f"{schema}.Event", 2, "missing_user_id")
    ]


def test_a_new_postgres_column_arrives_without_manual_steps(postgres, app_schema, tmp_path) -> None:
    p = pipeline(tmp_path)
    p.run(app_postgres(credentials=postgres, schema=app_schema))
    execute(
        postgres,
        app_schema,
        "alter table users add column company_size integer",
        "update users set company_size = 42, "
        "updated_at = (select max(updated_at) from users) + interval '1 day' "
        "where id = 10005",
    )
    p.run(app_postgres(credentials=postgres, schema=app_schema))
    assert raw(tmp_path, "select company_size from raw_app.users where id = 10005") == [(42,)]


def test_a_run_killed_midway_then_rerun_gives_exactly_one_clean_load(
    postgres, app_schema, reference, tmp_path
) -> None:
    p = pipeline(tmp_path)
    source = app_postgres(credentials=postgres, schema=app_schema, chunk_size=1_000)
    batches = {"seen": 0}

    def die_on_third_batch(batch):
        batches["seen"] += 1
        if batches["seen"] == 3:
            raise RuntimeError("killed")
        return batch

    source.resources["events"].add_map(die_on_third_batch)
    with pytest.raises(PipelineStepFailed):
        p.run(source)
    assert not p.has_pending_data  # an extract failure leaves nothing half-done
    p.run(app_postgres(credentials=postgres, schema=app_schema, chunk_size=1_000))
    assert raw(tmp_path, "select count(*), count(distinct id) from raw_app.events") == [
        (len(reference.app_events), len(reference.app_events))
    ]
    assert raw(tmp_path, "select count(*) from raw_app.users") == [(len(reference.users),)]


def test_configured_by_env_and_secrets_stay_out_of_errors(
    postgres, app_schema, tmp_path, monkeypatch
) -> None:
    data = DataDir(tmp_path / "data").ensure()
    monkeypatch.setenv("SOURCES__APP_POSTGRES__CREDENTIALS", postgres)
    monkeypatch.setenv("SOURCES__APP_POSTGRES__SCHEMA", app_schema)
    result = run_source(data, "app-postgres")
    assert result.table_rows["users"] > 0
    assert result.cursors["users"].startswith("updated_at = ")
    monkeypatch.setenv(
        "SOURCES__APP_POSTGRES__CREDENTIALS", "postgresql://journeys:s3cr3t-pw@127.0.0.1:1/app"
    )
    with pytest.raises(IngestError) as error:
        run_source(data, "app-postgres")
    assert "app-postgres" in str(error.value)
    assert "s3cr3t-pw" not in str(error.value)


def test_not_configured_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SOURCES__APP_POSTGRES__CREDENTIALS", raising=False)
    with pytest.raises(IngestError, match="SOURCES__APP_POSTGRES__CREDENTIALS"):
        run_source(DataDir(tmp_path), "app-postgres")


# -- ids without a value, text (cuid) ids, and properties as stored (issue 14 items 3, 13) --
NBSP = "\u00a0"


def fresh_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f'drop schema if exists "{schema}" cascade')
        con.execute(f'create schema "{schema}"')


def test_text_ids_load_and_null_empty_or_blank_ids_are_rejected(postgres, tmp_path) -> None:
    """Prisma's default `String @id @default(cuid())`: text ids. An id that is null, '' or
    only white space (NBSP included) is no id; such rows are set aside with a reason, for
    users as for events, and a rerun does not count them twice."""
    schema = "prisma_text"
    fresh_schema(postgres, schema)
    with psycopg.connect(postgres) as con, con.cursor() as cur:
        cur.execute(f'set search_path to "{schema}"')
        cur.execute('create table "User" (id text primary key, email text, '
                    '"updatedAt" timestamp(3) not null)')
        cur.execute('create table "Event" (id text primary key, "userId" text, name text, '
                    'properties jsonb, "createdAt" timestamp(3) not null)')
        cur.executemany('insert into "User" values (%s, %s, %s)', [
            ("ckx1a2b3c0000qz1k9d8e7f6g", "ana@x.io", "2026-05-01 10:00"),
            ("3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01", "ben@x.io", "2026-05-02 10:00"),
            ("", "empty@x.io", "2026-05-03 10:00"),
            (f" {NBSP}\t", "blank@x.io", "2026-05-03 11:00"),
        ])
        cur.executemany('insert into "Event" values (%s, %s, %s, %s, %s)', [
            ("ckx1ev0001", "ckx1a2b3c0000qz1k9d8e7f6g", "signed_up", "{}", "2026-05-01 10:00"),
            ("ckx1ev0002", "3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01", "signed_up", "{}",
             "2026-05-02 10:00"),
            ("ckx1ev0003", "", "signed_up", "{}", "2026-05-03 10:00"),
            ("ckx1ev0004", NBSP, "signed_up", "{}", "2026-05-03 10:01"),
            ("ckx1ev0005", None, "signed_up", "{}", "2026-05-03 10:02"),
            ("", "ckx1a2b3c0000qz1k9d8e7f6g", "file_uploaded", "{}", "2026-05-03 10:03"),
            ("  ", None, "file_uploaded", "{}", "2026-05-03 10:04"),
        ])
    source = {"credentials": postgres, "schema": schema, "users_table": "User",
              "events_table": "Event", "users_cursor": "updatedAt", "events_cursor": "createdAt"}
    p = pipeline(tmp_path)
    p.run(app_postgres(**source))
    assert raw(tmp_path, "select id from raw_app.users order by id") == [
        ("3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01",), ("ckx1a2b3c0000qz1k9d8e7f6g",)]
    assert raw(tmp_path, "select id, user_id from raw_app.events order by id") == [
        ("ckx1ev0001", "ckx1a2b3c0000qz1k9d8e7f6g"),
        ("ckx1ev0002", "3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01")]
    reasons = raw(tmp_path, "select split_part(location, ' ', 1), reason, count(*) "
                            "from raw_app._rejected_records group by all order by all")
    assert reasons == [(f"{schema}.Event", "missing_id", 2),
                       (f"{schema}.Event", "missing_user_id", 3),
                       (f"{schema}.User", "missing_id", 2)]
    p.run(app_postgres(**source))
    assert raw(tmp_path, "select count(*) from raw_app._rejected_records") == [(7,)]
    assert raw(tmp_path, "select count(*) from raw_app.events") == [(2,)]


def test_integer_ids_a_user_without_id_is_rejected_too(postgres, tmp_path) -> None:
    """Integer id columns: null is the only way to have no id; a users table that allows
    it (no primary key) has such rows set aside, as the events table always had."""
    schema = "int_ids"
    fresh_schema(postgres, schema)
    execute(postgres, schema,
            "create table users (id bigint, email text, updated_at timestamp(3))",
            "create table events (id bigint, user_id bigint, name text, properties jsonb, "
            "created_at timestamp(3))",
            "insert into users values (42, 'ana@x.io', '2026-05-01 10:00'), "
            "(null, 'nobody@x.io', '2026-05-01 11:00')",
            "insert into events values (1, 42, 'signed_up', '{}', '2026-05-01 10:00'), "
            "(2, null, 'signed_up', '{}', '2026-05-01 11:00'), "
            "(null, 42, 'signed_up', '{}', '2026-05-01 12:00')")
    p = pipeline(tmp_path)
    p.run(app_postgres(credentials=postgres, schema=schema))
    assert raw(tmp_path, "select id from raw_app.users") == [(42,)]
    assert raw(tmp_path, "select id, user_id from raw_app.events") == [(1, 42)]
    reasons = raw(tmp_path, "select split_part(location, ' ', 1), reason "
                            "from raw_app._rejected_records order by all")
    assert reasons == [(f"{schema}.events", "missing_id"), (f"{schema}.events", "missing_user_id"),
                       (f"{schema}.users", "missing_id")]


def test_an_event_without_a_name_or_a_time_is_rejected(postgres, tmp_path) -> None:
    """An app event needs its name and its time as well as its ids: null, '' or blank
    name and a null created_at are set aside with the reason; the good event loads."""
    schema = "no_name"
    fresh_schema(postgres, schema)
    execute(postgres, schema,
            "create table users (id bigint, email text, updated_at timestamp(3))",
            "create table events (id bigint, user_id bigint, name text, properties jsonb, "
            "created_at timestamp(3))",
            "insert into users values (42, 'ana@x.io', '2026-05-01 10:00')",
            "insert into events values (1, 42, 'signed_up', '{}', '2026-05-01 10:00'), "
            "(2, 42, null, '{}', '2026-05-01 10:01'), "
            "(3, 42, ' ', '{}', '2026-05-01 10:02'), "
            "(4, 42, 'item_created', '{}', null)")
    p = pipeline(tmp_path)
    p.run(app_postgres(credentials=postgres, schema=schema))
    assert raw(tmp_path, "select id, name from raw_app.events") == [(1, "signed_up")]
    reasons = raw(tmp_path, "select reason from raw_app._rejected_records order by all")
    assert reasons == [("missing_created_at",), ("missing_name",), ("missing_name",)]


def test_event_properties_hold_only_the_keys_each_event_set(postgres, tmp_path) -> None:
    """Each event's properties are its own: keys another event set do not appear (as
    nulls) in it, and a key whose value is null counts as not set, at any depth."""
    schema = "props"
    fresh_schema(postgres, schema)
    execute(postgres, schema,
            "create table users (id bigint primary key, updated_at timestamp(3))",
            "create table events (id bigint primary key, user_id bigint, name text, "
            "properties jsonb, created_at timestamp(3))",
            "insert into users values (1, '2026-05-01 10:00')")
    with psycopg.connect(postgres) as con:
        con.cursor().executemany(
            f'insert into "{schema}".events values (%s, 1, %s, %s, %s)', [
                (1, "signed_up", '{"signup_method": "google"}', "2026-05-01 10:00"),
                (2, "report_generated", '{"report_type": "weekly", "filters": {"range": "7d"}}',
                 "2026-05-01 10:01"),
                (3, "workspace_created", "{}", "2026-05-01 10:02"),
                (4, "file_uploaded", '{"file_type": "pdf", "folder": null}', "2026-05-01 10:03"),
                (5, "report_generated",
                 '{"filters": {"owner": "me", "range": null}, "tags": ["a", null]}',
                 "2026-05-01 10:04"),
            ])
    p = pipeline(tmp_path)
    p.run(app_postgres(credentials=postgres, schema=schema))
    assert raw(tmp_path, "select id, properties::varchar from raw_app.events order by id") == [
        (1, '{"signup_method":"google"}'),
        (2, '{"filters":{"range":"7d"},"report_type":"weekly"}'),
        (3, "{}"),
        (4, '{"file_type":"pdf"}'),
        (5, '{"filters":{"owner":"me"},"tags":["a",null]}'),
    ]
