"""The app's tables from files (issue 14 items 3, 4 and 13): CSV, JSON lines (plain or
gzip) and Parquet dumps of `users` / `events` load exactly as the app's Postgres does —
text ids (Prisma cuids, uuids) as text, integer ids as integers, rows without an id set
aside, each event's properties only the keys it set — and a file that cannot be read is
set aside with its name instead of stopping the run.

The rows are written by hand below, once; each test puts them in a real PostgreSQL table
(pgserver) and exports them the way a customer would (`COPY ... CSV HEADER`,
`row_to_json`, or pyarrow to Parquet), then loads both ways and compares."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import Counter
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeys.dbt import run_dbt
from journeys.ingest import run_source
from journeys.paths import DataDir

NBSP = "\u00a0"
UTC = dt.UTC

# the ids each kind of app uses: Prisma's cuid / a uuid, or integer keys
IDS = {
    "text": {"ana": "ckx1a2b3c0000qz1k9d8e7f6g", "ben": "3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01",
             "e1": "ckx1ev0001", "e2": "ckx1ev0002", "e3": "ckx1ev0003", "e4": "ckx1ev0004",
             "e5": "ckx1ev0005", "e6": "ckx1ev0006"},
    "integer": {"ana": 42, "ben": 43, "e1": 1001, "e2": 1002, "e3": 1003, "e4": 1004,
                "e5": 1005, "e6": 1006},
}
USER_COLUMNS = ("id", "email", "signedUpAt", "plan", "convertedAt", "churned", "churnedAt",
                "updatedAt")
EVENT_COLUMNS = ("id", "userId", "name", "properties", "sessionId", "createdAt")


def users(kind: str) -> list[tuple]:
    """The app's `User` rows: two users, and rows whose id is null (and, where ids are
    text, '' or blank)."""
    i = IDS[kind]
    rows = [
        (i["ana"], "ana@x.io", "2026-05-01 10:00:00", "trial", None, False, None,
         "2026-05-01 10:00:00"),
        (i["ben"], "Ben@X.io", "2026-05-02 11:30:00.25", "pro", "2026-05-10 09:00:00", True,
         "2026-06-01 08:00:00", "2026-06-01 08:00:00"),
        (None, "nobody@x.io", "2026-05-03 10:00:00", "trial", None, False, None,
         "2026-05-03 10:00:00"),
    ]
    if kind == "text":
        rows += [
            ("", "empty@x.io", "2026-05-03 11:00:00", "trial", None, False, None,
             "2026-05-03 11:00:00"),
            (f" {NBSP}", "blank@x.io", "2026-05-03 12:00:00", "trial", None, False, None,
             "2026-05-03 12:00:00"),
        ]
    return rows


def events(kind: str) -> list[tuple]:
    """The app's `Event` rows: three loadable events whose properties differ (one sets a
    key to null), and events without a user id or without an id."""
    i = IDS[kind]
    rows = [
        (i["e1"], i["ana"], "signed_up", {"signup_method": "google"}, "s-1",
         "2026-05-01 10:00:00"),
        (i["e2"], i["ben"], "report_generated",
         {"report_type": "weekly", "filters": {"range": "7d"}}, None, "2026-05-03 12:00:00.5"),
        (i["e3"], i["ana"], "file_uploaded", {"file_type": "pdf", "folder": None}, "s-2",
         "2026-05-04 08:15:00"),
        (i["e4"], None, "file_uploaded", {}, None, "2026-05-04 09:00:00"),
        (None, i["ben"], "file_uploaded", {}, None, "2026-05-04 09:01:00"),
    ]
    if kind == "text":
        rows += [
            (i["e5"], "", "file_uploaded", {}, None, "2026-05-04 09:02:00"),
            (i["e6"], NBSP, "file_uploaded", {}, None, "2026-05-04 09:03:00"),
            ("\t ", i["ana"], "file_uploaded", {}, None, "2026-05-04 09:04:00"),
        ]
    return rows


def expected_users(kind: str) -> list[tuple]:
    """raw_app.users as staging reads it: (id as text, email, plan, churned, times in UTC),
    in the order of the ids' text."""
    i = IDS[kind]
    return sorted([
        (str(i["ana"]), "ana@x.io", "trial", False, dt.datetime(2026, 5, 1, 10, tzinfo=UTC),
         None, None, dt.datetime(2026, 5, 1, 10, tzinfo=UTC)),
        (str(i["ben"]), "Ben@X.io", "pro", True,
         dt.datetime(2026, 5, 2, 11, 30, 0, 250_000, tzinfo=UTC),
         dt.datetime(2026, 5, 10, 9, tzinfo=UTC), dt.datetime(2026, 6, 1, 8, tzinfo=UTC),
         dt.datetime(2026, 6, 1, 8, tzinfo=UTC)),
    ])


def expected_events(kind: str) -> list[tuple]:
    """raw_app.events: (id, user_id as text, name, properties text, session, time)."""
    i = IDS[kind]
    return [
        (str(i["e1"]), str(i["ana"]), "signed_up", '{"signup_method":"google"}', "s-1",
         dt.datetime(2026, 5, 1, 10, tzinfo=UTC)),
        (str(i["e2"]), str(i["ben"]), "report_generated",
         '{"filters":{"range":"7d"},"report_type":"weekly"}', None,
         dt.datetime(2026, 5, 3, 12, 0, 0, 500_000, tzinfo=UTC)),
        (str(i["e3"]), str(i["ana"]), "file_uploaded", '{"file_type":"pdf"}', "s-2",
         dt.datetime(2026, 5, 4, 8, 15, tzinfo=UTC)),
    ]


def expected_rejects(kind: str) -> Counter:
    """(table, reason) of every row set aside."""
    if kind == "text":
        return Counter({("users", "missing_id"): 3, ("events", "missing_user_id"): 3,
                        ("events", "missing_id"): 2})
    return Counter({("users", "missing_id"): 1, ("events", "missing_user_id"): 1,
                    ("events", "missing_id"): 1})


# -- the app's Postgres, and its tables exported to files ------------------------------------
def app_tables(dsn: str, schema: str, kind: str) -> None:
    """Prisma-style `User` / `Event` tables (quoted camelCase names, timestamp(3), jsonb)
    holding the rows above. No key constraints, so rows without ids can exist."""
    id_type = "text" if kind == "text" else "bigint"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f'drop schema if exists "{schema}" cascade')
        con.execute(f'create schema "{schema}"')
        con.execute(f'set search_path to "{schema}"')
        con.execute(f'create table "User" (id {id_type}, email text, "signedUpAt" timestamp(3),'
                    ' plan text, "convertedAt" timestamp(3), churned boolean, '
                    '"churnedAt" timestamp(3), "updatedAt" timestamp(3))')
        con.execute(f'create table "Event" (id {id_type}, "userId" {id_type}, name text, '
                    'properties jsonb, "sessionId" text, "createdAt" timestamp(3))')
        with con.cursor() as cur:
            cur.executemany('insert into "User" values (%s, %s, %s, %s, %s, %s, %s, %s)',
                            users(kind))
            cur.executemany('insert into "Event" values (%s, %s, %s, %s, %s, %s)',
                            [(*r[:3], json.dumps(r[3]), *r[4:]) for r in events(kind)])


def copy_csv(dsn: str, schema: str, table: str, path: Path) -> None:
    """`COPY "Table" TO STDOUT (FORMAT csv, HEADER)`: what a customer's dump looks like."""
    statement = f'copy "{schema}"."{table}" to stdout with (format csv, header true)'
    with (psycopg.connect(dsn) as con, con.cursor() as cur, open(path, "wb") as out,
          cur.copy(statement) as copy):
        for block in copy:
            out.write(block)


def json_lines(dsn: str, schema: str, table: str) -> bytes:
    """One `row_to_json` object per line: integer ids as numbers, text ids as strings,
    jsonb as nested objects, timestamps as ISO text without a zone."""
    with psycopg.connect(dsn) as con:
        rows = con.execute(f'select row_to_json(t)::text from "{schema}"."{table}" t').fetchall()
    return b"".join(r[0].encode() + b"\n" for r in rows)


def parquet(rows: list[tuple], columns: tuple[str, ...], path: Path) -> None:
    """A Parquet dump as pyarrow (or pandas) writes one from Python rows: snake_case
    names, `properties` an inferred struct (every key any row set, null where a row did
    not), timestamps typed."""
    snake = {"signedUpAt": "signed_up_at", "convertedAt": "converted_at",
             "churnedAt": "churned_at", "updatedAt": "updated_at", "userId": "user_id",
             "sessionId": "session_id", "createdAt": "created_at"}
    data: dict[str, list] = {snake.get(c, c): [r[n] for r in rows] for n, c in enumerate(columns)}
    for name, values in data.items():
        if name.endswith("_at"):
            data[name] = [None if v is None else dt.datetime.fromisoformat(v) for v in values]
    table = pa.table(data)
    if "properties" in data:
        assert pa.types.is_struct(table.schema.field("properties").type)
    pq.write_table(table, path)


def export(dsn: str, schema: str, kind: str, form: str, folder: Path) -> Path:
    """The app's two tables as files of one format in `folder`."""
    folder.mkdir(parents=True)
    for table, name in (("User", "users"), ("Event", "events")):
        if form == "csv":
            copy_csv(dsn, schema, table, folder / f"{name}.csv")
        elif form == "jsonl":
            (folder / f"{name}.jsonl").write_bytes(json_lines(dsn, schema, table))
        elif form == "ndjson.gz":
            (folder / f"{name}.ndjson.gz").write_bytes(gzip.compress(json_lines(dsn, schema,
                                                                                table)))
        else:
            rows, columns = ((users(kind), USER_COLUMNS) if name == "users"
                             else (events(kind), EVENT_COLUMNS))
            parquet(rows, columns, folder / f"{name}.parquet")
    return folder


# -- what landed ----------------------------------------------------------------------------
def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def raw_rows(data: DataDir) -> dict[str, object]:
    """raw_app as staging reads it: ids as text, times as UTC instants, and the id types."""
    db = data.raw_db
    rejects = Counter(
        ("users" if "user" in location.rsplit("/", 1)[-1].lower() else "events", reason)
        for location, reason in query(db, "select location, reason from raw_app._rejected_records")
    )
    return {
        "users": query(db, "select id::varchar, email, plan, churned, signed_up_at::timestamptz, "
                           "converted_at::timestamptz, churned_at::timestamptz, "
                           "updated_at::timestamptz from raw_app.users order by 1"),
        "events": query(db, "select id::varchar, user_id::varchar, name, properties::varchar, "
                            "session_id, created_at::timestamptz from raw_app.events order by 1"),
        "id_types": query(db, "select table_name, column_name, data_type "
                              "from information_schema.columns where table_schema = 'raw_app' "
                              "and column_name in ('id', 'user_id') order by all"),
        "rejects": rejects,
    }


def load_postgres(dsn: str, schema: str, data: DataDir):
    return run_source(data, "app-postgres", credentials=dsn, schema=schema, users_table="User",
                      events_table="Event", users_cursor="updatedAt", events_cursor="createdAt")


FORMATS = ("csv", "jsonl", "ndjson.gz", "parquet")


@pytest.mark.parametrize("kind", ["text", "integer"])
def test_every_file_format_loads_the_rows_postgres_loads(postgres, tmp_path, kind) -> None:
    schema = f"app_{kind}"
    app_tables(postgres, schema, kind)
    from_postgres = DataDir(tmp_path / "pg").ensure()
    load_postgres(postgres, schema, from_postgres)
    expected = raw_rows(from_postgres)
    # the Postgres load is right on its own terms (worked out by hand above)...
    assert expected["users"] == expected_users(kind)
    assert expected["events"] == expected_events(kind)
    assert expected["rejects"] == expected_rejects(kind)
    id_type = "VARCHAR" if kind == "text" else "BIGINT"
    assert {t for *_, t in expected["id_types"]} == {id_type}
    # ...and every file format gives the same rows, ids of the same type, same rejects
    for form in FORMATS:
        data = DataDir(tmp_path / form).ensure()
        result = run_source(data, "app-files", str(export(postgres, schema, kind, form,
                                                          tmp_path / f"dump-{form}")))
        assert raw_rows(data) == expected, form
        assert result.rows_rejected == sum(expected_rejects(kind).values()), form
        # a second run finds nothing new and counts nothing twice
        assert run_source(data, "app-files", str(tmp_path / f"dump-{form}")).rows_extracted == {}
        assert raw_rows(data)["rejects"] == expected_rejects(kind), form


def test_cuid_ids_from_files_build_the_same_staging_rows_and_persons(postgres, tmp_path) -> None:
    """Built with dbt: the staged users and events, and the persons, from a CSV dump of
    text-id tables are those the app's Postgres gives; each app user is one person whose
    id is the user's id."""
    app_tables(postgres, "app_built", "text")
    built = {}
    for how in ("postgres", "csv"):
        data = DataDir(tmp_path / how).ensure()
        if how == "postgres":
            load_postgres(postgres, "app_built", data)
        else:
            run_source(data, "app-files",
                       str(export(postgres, "app_built", "text", "csv", tmp_path / "dump")))
        # seeds too: dim_persons maps referrers through seeds/referrer_sources.csv
        result = run_dbt(data, "build", ["--select", "+dim_persons", "--resource-type", "model",
                                         "--resource-type", "seed"], quiet=True)
        assert result.ok, how
        db = data.warehouse_db
        built[how] = (
            query(db, "select * from staging.stg_app__users order by user_id"),
            query(db, "select * from staging.stg_app__events order by event_id"),
            query(db, "select person_id, app_user_id, email, signed_up_at from marts.dim_persons "
                      "order by person_id"),
        )
    assert built["csv"] == built["postgres"]
    ana, ben = IDS["text"]["ana"], IDS["text"]["ben"]
    assert [r[:2] for r in built["csv"][2]] == sorted([(ben, ben), (ana, ana)])
    assert [r[0] for r in built["csv"][1]] == ["ckx1ev0001", "ckx1ev0002", "ckx1ev0003"]


# -- files that cannot be read, lines that are not JSON, ids across files --------------------
USERS_CSV = (
    "id,email,signed_up_at,plan,converted_at,churned,churned_at,updated_at\n"
    "ckx1a2b3c0000qz1k9d8e7f6g,ana@x.io,2026-05-01 10:00:00,trial,,f,,2026-05-01 10:00:00\n"
)


def test_a_file_that_cannot_be_read_is_set_aside_with_its_name(tmp_path) -> None:
    """A Parquet file that is not Parquet and a gzip cut short are each one reject naming
    the file; a JSON line that does not parse is one reject naming its line; the other
    rows of the run load, and a rerun neither fails nor counts them twice."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "users.csv").write_text(USERS_CSV)
    lines = [
        '{"id": "ckx1ev0001", "user_id": "ckx1a2b3c0000qz1k9d8e7f6g", "name": "signed_up", '
        '"properties": {}, "created_at": "2026-05-01T10:00:00"}',
        '{"id": "ckx1ev0002", "user_id": "ckx1a2b3c0000qz1k9d8e7f6g", "name": "signed_',
        '{"id": "ckx1ev0003", "user_id": "ckx1a2b3c0000qz1k9d8e7f6g", "name": "file_uploaded", '
        '"properties": {"file_type": "png"}, "created_at": "2026-05-01T10:05:00Z"}',
    ]
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "events.parquet").write_bytes(b"PAR1 this is not a parquet file")
    whole = gzip.compress(b'{"id": "ckx1ev0009", "user_id": "x", "name": "n"}\n' * 50)
    (folder / "events.ndjson.gz").write_bytes(whole[: len(whole) // 2])
    data = DataDir(tmp_path / "data").ensure()
    result = run_source(data, "app-files", str(folder))
    assert result.table_rows["users"] == 1
    assert query(data.raw_db, "select id, properties::varchar, created_at::timestamptz "
                              "from raw_app.events order by id") == [
        ("ckx1ev0001", "{}", dt.datetime(2026, 5, 1, 10, tzinfo=UTC)),
        ("ckx1ev0003", '{"file_type":"png"}', dt.datetime(2026, 5, 1, 10, 5, tzinfo=UTC)),
    ]
    rejects = query(data.raw_db, "select regexp_extract(location, '[^/]*$'), position, reason "
                                 "from raw_app._rejected_records order by all")
    assert rejects == [("events.jsonl", 2, "malformed_json"),
                       ("events.ndjson.gz", 0, "unreadable_file"),
                       ("events.parquet", 0, "unreadable_file")]
    assert result.rows_rejected == 3
    run_source(data, "app-files", str(folder))
    assert query(data.raw_db, "select count(*) from raw_app._rejected_records") == [(3,)]
    assert query(data.raw_db, "select count(*) from raw_app.events") == [(2,)]


def test_integer_ids_in_json_as_numbers_or_strings_are_the_same_ids(tmp_path) -> None:
    """A JSON dump may write an integer id as 42 or as "42": both are user 42 (ids compare
    as text). An id that is not an integer's canonical text ("007") stays text."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "users.jsonl").write_text(
        '{"id": 42, "email": "ana@x.io", "updated_at": "2026-05-01 10:00:00"}\n'
        '{"id": "43", "email": "ben@x.io", "updated_at": "2026-05-01 11:00:00"}\n')
    (folder / "events.jsonl").write_text(
        '{"id": 1, "user_id": "42", "name": "signed_up", "properties": "{\\"a\\": 1}", '
        '"created_at": "2026-05-01 10:00:00"}\n'
        '{"id": "2", "user_id": 43, "name": "signed_up", "properties": null, '
        '"created_at": "2026-05-01 11:00:00"}\n')
    data = DataDir(tmp_path / "data").ensure()
    run_source(data, "app-files", str(folder))
    assert query(data.raw_db, "select id, email from raw_app.users order by id") == [
        (42, "ana@x.io"), (43, "ben@x.io")]
    assert query(data.raw_db, "select id, user_id, properties::varchar from raw_app.events "
                              "order by id") == [(1, 42, '{"a":1}'), (2, 43, None)]
    (folder / "users.jsonl").write_text(
        '{"id": "007", "email": "bond@x.io", "updated_at": "2026-05-02 10:00:00"}\n')
    other = DataDir(tmp_path / "other").ensure()
    run_source(other, "app-files", str(folder))
    assert ("007",) in query(other.raw_db, "select id from raw_app.users")


def test_a_text_id_in_a_later_dump_of_an_integer_table_is_set_aside(tmp_path) -> None:
    """raw_app.users.id took its type (integer) from the first load; a later dump whose
    ids are text cannot join it: those rows are set aside with the reason, not loaded
    under another id or lost."""
    folder = tmp_path / "dump"
    folder.mkdir()
    header = "id,email,signed_up_at,plan,converted_at,churned,churned_at,updated_at\n"
    (folder / "users.csv").write_text(
        header + "42,ana@x.io,2026-05-01 10:00:00,trial,,f,,2026-05-01 10:00:00\n")
    data = DataDir(tmp_path / "data").ensure()
    run_source(data, "app-files", str(folder))
    (folder / "users-2.csv").write_text(
        header + "ckx1a2b3c0000qz1k9d8e7f6g,bo@x.io,2026-05-02 10:00:00,trial,,f,,"
        "2026-05-02 10:00:00\n43,cy@x.io,2026-05-02 10:00:00,trial,,f,,2026-05-02 10:00:00\n")
    run_source(data, "app-files", str(folder))
    assert query(data.raw_db, "select id from raw_app.users order by id") == [(42,), (43,)]
    assert query(data.raw_db, "select position, reason from raw_app._rejected_records") == [
        (1, "id_not_integer")]


def test_a_parquet_dump_duckdb_writes_with_uuid_and_json_types(tmp_path) -> None:
    """DuckDB's `COPY ... TO 'x.parquet'` keeps a uuid column as Parquet's UUID type and
    JSON as Parquet's JSON type: the ids load as their usual text, the JSON as JSON with
    only its set keys, a zoned timestamp as UTC."""
    folder = tmp_path / "dump"
    folder.mkdir()
    with duckdb.connect() as con:
        con.execute(
            "copy (select '3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01'::uuid as id, 'ana@x.io' as email,"
            " timestamptz '2026-05-01 12:00:00+02' as updated_at) "
            f"to '{folder / 'users.parquet'}'")
        con.execute(
            "copy (select 7 as id, '3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01'::uuid as user_id, "
            """'signed_up' as name, '{"plan": null, "method": "sso"}'::json as properties, """
            "timestamp '2026-05-01 10:00:00' as created_at) "
            f"to '{folder / 'events.parquet'}'")
    data = DataDir(tmp_path / "data").ensure()
    result = run_source(data, "app-files", str(folder))
    assert (result.table_rows.get("users"), result.table_rows.get("events")) == (1, 1)
    assert result.rows_rejected == 0
    assert query(data.raw_db, "select id, email, updated_at::timestamptz from raw_app.users") == [
        ("3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01", "ana@x.io",
         dt.datetime(2026, 5, 1, 10, tzinfo=UTC))]
    assert query(data.raw_db, "select id, user_id, properties::varchar from raw_app.events") == [
        (7, "3f2c9a4e-8b1d-4c7e-9f0a-5d6e7b8c9d01", '{"method":"sso"}')]


def test_integers_beyond_64_bits_stay_exact(tmp_path) -> None:
    """jsonb and JSON allow integers of any size (orjson alone would read them as floats):
    such an id loads as text, digit for digit, and a property keeps its digits."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "users.jsonl").write_text(
        '{"id": 123456789012345678901234, "email": "big@x.io"}\n{"id": 5, "email": "b@x.io"}\n')
    (folder / "events.jsonl").write_text(
        '{"id": 1, "user_id": 5, "name": "n", "properties": {"order": 98765432109876543210}, '
        '"created_at": "2026-05-01 10:00:00"}\n')
    data = DataDir(tmp_path / "data").ensure()
    assert run_source(data, "app-files", str(folder)).rows_rejected == 0
    assert query(data.raw_db, "select id from raw_app.users order by id") == [
        ("123456789012345678901234",), ("5",)]
    assert query(data.raw_db, "select properties::varchar from raw_app.events") == [
        ('{"order":98765432109876543210}',)]


def test_an_event_without_a_name_or_a_time_is_set_aside(tmp_path) -> None:
    """An app event needs its name and its time as much as its ids (int_events__unified
    and the marts cannot place it otherwise): null, '' or blank name and a null time are
    set aside with the reason, the good event loads."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "users.jsonl").write_text(
        '{"id": 1, "email": "ana@x.io", "updated_at": "2026-05-01 10:00:00"}\n')
    (folder / "events.jsonl").write_text(
        '{"id": 1, "user_id": 1, "name": "signed_up", "created_at": "2026-05-01 10:00:00"}\n'
        '{"id": 2, "user_id": 1, "name": null, "created_at": "2026-05-01 10:01:00"}\n'
        '{"id": 3, "user_id": 1, "name": " \\u00a0", "created_at": "2026-05-01 10:02:00"}\n'
        '{"id": 4, "user_id": 1, "name": "item_created", "created_at": null}\n')
    data = DataDir(tmp_path / "data").ensure()
    run_source(data, "app-files", str(folder))
    assert query(data.raw_db, "select id, name from raw_app.events") == [(1, "signed_up")]
    assert sorted(query(data.raw_db, "select reason from raw_app._rejected_records")) == [
        ("missing_created_at",), ("missing_name",), ("missing_name",)]
