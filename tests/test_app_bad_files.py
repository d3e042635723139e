"""One bad file or row never stops a load (issue 21, items 6 and 7) for the app's dumps:

- a file without a column every row of its table needs (`events` without `user_id`) is
  one reject naming the file and the column; the table's other files and the other
  table load; `journeys ingest` says which file and exits 1; a rerun says the same and
  changes no raw table; once the file is fixed it loads;
- a file whose columns come in another order, or with columns of the customer's own
  (`team_id`, `deleted_at`), loads by header name in every format, whatever types those
  columns have in each file.

Every file is written by hand below, one per case; the expected rows are worked out by
hand from them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeys.ingest import run_source
from journeys.paths import DataDir
from pipelines import app_files

UTC = dt.UTC


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def rejects(data: DataDir) -> list[tuple]:
    """(file name, position, reason) of every reject."""
    return query(data.raw_db, "select regexp_extract(location, '[^/]*$'), position, reason "
                              "from raw_app._rejected_records order by all")


def write_parquet(path: Path, rows: list[dict], schema: pa.Schema) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


# -- item 6: a file without a key column --------------------------------------------------
USERS_CSV = (
    "id,email,signed_up_at,plan,updated_at\n"
    "1,ana@x.io,2026-05-01 10:00:00,trial,2026-05-01 10:00:00\n"
    "2,ben@x.io,2026-05-02 11:00:00,pro,2026-05-02 11:00:00\n"
)
EVENTS_CSV = (
    "id,user_id,name,session_id,created_at\n"
    "11,1,signed_up,s-1,2026-05-01 10:00:00\n"
    "12,2,signed_up,s-2,2026-05-02 11:00:00\n"
)
# the broken dumps: the same kind of rows, one required column left out of the export
BROKEN = {
    ("csv", "user_id"): (
        "events-2.csv",
        "id,name,session_id,created_at\n"
        "13,file_uploaded,s-1,2026-05-01 10:05:00\n"
        "14,file_uploaded,s-2,2026-05-02 11:05:00\n"),
    ("jsonl", "user_id"): (
        "events-2.jsonl",
        '{"id": 13, "name": "file_uploaded", "created_at": "2026-05-01 10:05:00"}\n'
        '{"id": 14, "name": "file_uploaded", "created_at": "2026-05-02 11:05:00"}\n'),
    ("csv", "created_at"): (
        "events-2.csv",
        "id,user_id,name\n13,1,file_uploaded\n14,2,file_uploaded\n"),
    ("jsonl", "name"): (
        "events-2.ndjson",
        '{"id": 13, "userId": 1, "createdAt": "2026-05-01 10:05:00"}\n'),
}
PARQUET_WITHOUT_USER_ID = (
    [{"id": 13, "name": "file_uploaded", "created_at": dt.datetime(2026, 5, 1, 10, 5)},
     {"id": 14, "name": "file_uploaded", "created_at": dt.datetime(2026, 5, 2, 11, 5)}],
    pa.schema([("id", pa.int64()), ("name", pa.string()), ("created_at", pa.timestamp("ms"))]),
)


def dump_with_a_broken_file(folder: Path, form: str, column: str) -> str:
    """users.csv and events-1.csv (good), and one events file without `column`; the
    broken file's name."""
    folder.mkdir()
    (folder / "users.csv").write_text(USERS_CSV)
    (folder / "events-1.csv").write_text(EVENTS_CSV)
    if form == "parquet":
        write_parquet(folder / "events-2.parquet", *PARQUET_WITHOUT_USER_ID)
        return "events-2.parquet"
    name, text = BROKEN[(form, column)]
    (folder / name).write_text(text)
    return name


@pytest.mark.parametrize(("form", "column"), [
    ("csv", "user_id"), ("jsonl", "user_id"), ("parquet", "user_id"),
    ("csv", "created_at"), ("jsonl", "name"),
])
def test_a_file_without_a_required_column_is_one_reject_and_the_rest_loads(
        tmp_path, form, column) -> None:
    folder = tmp_path / "dump"
    broken = dump_with_a_broken_file(folder, form, column)
    data = DataDir(tmp_path / "data").ensure()
    result = run_source(data, "app-files", str(folder))
    # the other table and the table's good file load, row for row
    assert query(data.raw_db, "select id, email from raw_app.users order by id") == [
        (1, "ana@x.io"), (2, "ben@x.io")]
    assert query(data.raw_db, "select id, user_id, name from raw_app.events order by id") == [
        (11, 1, "signed_up"), (12, 2, "signed_up")]
    # the broken file is one reject, naming the file and the column
    assert rejects(data) == [(broken, 0, f"missing_column_{column}")]
    [raw] = query(data.raw_db, "select raw from raw_app._rejected_records")[0]
    assert broken in raw and f"no {column} column" in raw
    assert result.rows_rejected == 1
    [(location, why)] = result.unreadable_files.items()
    assert location.endswith(f"/{broken}")
    assert why.startswith(f"missing_column_{column}: no {column} column")
    # a rerun names that file again but sets nothing aside again: the raw tables stay
    before = query(data.raw_db, "select * from raw_app._rejected_records")
    again = run_source(data, "app-files", str(folder))
    assert again.rows_extracted == {}
    assert again.rows_rejected == 0
    assert again.unreadable_files == result.unreadable_files
    assert query(data.raw_db, "select * from raw_app._rejected_records") == before
    assert rejects(data) == [(broken, 0, f"missing_column_{column}")]
    assert again.table_rows == {"_rejected_records": 1, "events": 2, "users": 2}


def test_a_users_file_without_id_is_set_aside_and_the_events_load(tmp_path) -> None:
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "users.csv").write_text("email,plan\nana@x.io,trial\n")
    (folder / "events.csv").write_text(EVENTS_CSV)
    data = DataDir(tmp_path / "data").ensure()
    result = run_source(data, "app-files", str(folder))
    assert result.table_rows == {"_rejected_records": 1, "events": 2}
    assert rejects(data) == [("users.csv", 0, "missing_column_id")]


def test_json_lines_without_a_key_at_first_are_rows_set_aside_not_the_file(
        tmp_path, monkeypatch) -> None:
    """A JSON-lines file is read in batches; a first batch none of whose lines has
    `user_id` does not make the file one without the column when a later line has it:
    those lines are set aside one by one (`missing_user_id`), the others load."""
    monkeypatch.setattr(app_files, "BATCH_ROWS", 2)
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "events.jsonl").write_text(
        '{"id": 1, "name": "signed_up", "created_at": "2026-05-01 10:00:00"}\n'
        '{"id": 2, "name": "signed_up", "created_at": "2026-05-01 10:01:00"}\n'
        '{"id": 3, "user_id": 7, "name": "signed_up", "created_at": "2026-05-01 10:02:00"}\n'
        '{"id": 4, "user_id": 8, "name": "signed_up", "created_at": "2026-05-01 10:03:00"}\n'
        '{"id": 5, "name": "signed_up", "created_at": "2026-05-01 10:04:00"}\n')
    data = DataDir(tmp_path / "data").ensure()
    result = run_source(data, "app-files", str(folder))
    assert query(data.raw_db, "select id, user_id from raw_app.events order by id") == [
        (3, 7), (4, 8)]
    assert rejects(data) == [("events.jsonl", 1, "missing_user_id"),
                             ("events.jsonl", 2, "missing_user_id"),
                             ("events.jsonl", 5, "missing_user_id")]
    assert result.unreadable_files == {}


@pytest.mark.parametrize("form", ["csv", "jsonl", "parquet"])
def test_a_file_without_optional_columns_loads(tmp_path, form) -> None:
    """No `session_id`, no `properties` (events), no `plan` or `churned` (users): the
    rows load, the absent columns are absent (staging reads them as null)."""
    folder = tmp_path / "dump"
    folder.mkdir()
    users = [{"id": 1, "email": "ana@x.io"}]
    events = [{"id": 11, "user_id": 1, "name": "signed_up",
               "created_at": "2026-05-01 10:00:00"}]
    if form == "csv":
        (folder / "users.csv").write_text("id,email\n1,ana@x.io\n")
        (folder / "events.csv").write_text(
            "created_at,name,user_id,id\n2026-05-01 10:00:00,signed_up,1,11\n")
    elif form == "jsonl":
        (folder / "users.jsonl").write_text('{"id": 1, "email": "ana@x.io"}\n')
        (folder / "events.jsonl").write_text(
            '{"id": 11, "user_id": 1, "name": "signed_up", '
            '"created_at": "2026-05-01 10:00:00"}\n')
    else:
        pq.write_table(pa.Table.from_pylist(users), folder / "users.parquet")
        pq.write_table(pa.Table.from_pylist(events), folder / "events.parquet")
    data = DataDir(tmp_path / "data").ensure()
    result = run_source(data, "app-files", str(folder))
    assert result.rows_rejected == 0
    assert query(data.raw_db, "select id, user_id, name, created_at from raw_app.events") == [
        (11, 1, "signed_up", dt.datetime(2026, 5, 1, 10, tzinfo=UTC))]
    assert query(data.raw_db, "select id, email from raw_app.users") == [(1, "ana@x.io")]


# -- the command: says which file, exits 1, and stops once the file is fixed ---------------
def journeys(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "journeys.cli", *args], capture_output=True,
                          text=True, check=False, env={**os.environ, "COLUMNS": "200"})


def test_ingest_names_the_file_and_column_and_exits_1_until_it_is_fixed(tmp_path) -> None:
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "users.csv").write_text(USERS_CSV)
    (folder / "events.csv").write_text(
        "id,name,session_id,created_at\n11,signed_up,s-1,2026-05-01 10:00:00\n")
    args = ("ingest", "--data-dir", str(tmp_path / "data"), "--source", "app-files",
            "--path", str(folder))
    for run in range(2):  # named run after run, until the file is fixed
        result = journeys(*args)
        assert result.returncode == 1, result.stderr
        out = " ".join(result.stderr.split())
        assert "could not read" in out and "events.csv" in out
        assert "missing_column_user_id: no user_id column" in out
        # set aside once; the rerun changes no raw table
        assert ("1 rows rejected" in out) == (run == 0)
        assert "1 file(s) could not be read" in out
        raw = tmp_path / "data" / "raw.duckdb"
        assert query(raw, "select count(*) from raw_app.users") == [(2,)]
        assert query(raw, "select count(*) from raw_app._rejected_records") == [(1,)]
    (folder / "events.csv").write_text(EVENTS_CSV)
    fixed = journeys(*args)
    assert fixed.returncode == 0, fixed.stderr
    assert "could not read" not in fixed.stderr
    assert query(tmp_path / "data" / "raw.duckdb",
                 "select id, user_id from raw_app.events order by id") == [(11, 1), (12, 2)]


# -- item 7: columns by name, in any order, extra ones of any type ----------------------------
EVENTS_1_CSV = (
    "id,user_id,name,session_id,created_at,team_id,deleted_at\n"
    "11,1,signed_up,s-1,2026-05-01 10:00:00,7,\n"
    "12,2,signed_up,,2026-05-02 11:00:00,8,2026-05-03 00:00:00\n"
)
# another export: the same columns reversed, team_id now text in one row
EVENTS_2_CSV = (
    "deleted_at,team_id,created_at,session_id,name,user_id,id\n"
    "2026-05-05 00:00:00,T-9,2026-05-04 09:00:00,s-3,file_uploaded,1,13\n"
    ",12,2026-05-04 10:00:00,,file_uploaded,2,14\n"
)
EVENTS_1_JSONL = (
    '{"id": 11, "user_id": 1, "name": "signed_up", "session_id": "s-1", '
    '"created_at": "2026-05-01 10:00:00", "team_id": 7, "deleted_at": null}\n'
    '{"id": 12, "user_id": 2, "name": "signed_up", "session_id": null, '
    '"created_at": "2026-05-02 11:00:00", "team_id": 8, "deleted_at": "2026-05-03 00:00:00"}\n'
)
EVENTS_2_JSONL = (
    '{"deleted_at": "2026-05-05 00:00:00", "team_id": "T-9", '
    '"created_at": "2026-05-04 09:00:00", "session_id": "s-3", "name": "file_uploaded", '
    '"user_id": 1, "id": 13}\n'
    '{"team_id": "12", "created_at": "2026-05-04 10:00:00", "name": "file_uploaded", '
    '"user_id": 2, "id": 14}\n'
)
EVENTS_1_PARQUET = (
    [{"id": 11, "user_id": 1, "name": "signed_up", "session_id": "s-1",
      "created_at": dt.datetime(2026, 5, 1, 10), "team_id": 7, "deleted_at": None},
     {"id": 12, "user_id": 2, "name": "signed_up", "session_id": None,
      "created_at": dt.datetime(2026, 5, 2, 11), "team_id": 8,
      "deleted_at": dt.datetime(2026, 5, 3)}],
    pa.schema([("id", pa.int64()), ("user_id", pa.int64()), ("name", pa.string()),
               ("session_id", pa.string()), ("created_at", pa.timestamp("us")),
               ("team_id", pa.int32()), ("deleted_at", pa.timestamp("ms"))]),
)
EVENTS_2_PARQUET = (
    [{"deleted_at": dt.datetime(2026, 5, 5), "team_id": "T-9",
      "created_at": dt.datetime(2026, 5, 4, 9), "session_id": "s-3", "name": "file_uploaded",
      "user_id": 1, "id": 13},
     {"deleted_at": None, "team_id": "12",
      "created_at": dt.datetime(2026, 5, 4, 10), "session_id": None, "name": "file_uploaded",
      "user_id": 2, "id": 14}],
    pa.schema([("deleted_at", pa.timestamp("ms")),
               ("team_id", pa.string()), ("created_at", pa.timestamp("ms")),
               ("session_id", pa.string()), ("name", pa.string()), ("user_id", pa.int64()),
               ("id", pa.int64())]),
)


def write_events(folder: Path, form: str) -> None:
    if form == "csv":
        (folder / "events-1.csv").write_text(EVENTS_1_CSV)
        (folder / "events-2.csv").write_text(EVENTS_2_CSV)
    elif form == "jsonl":
        (folder / "events-1.jsonl").write_text(EVENTS_1_JSONL)
        (folder / "events-2.jsonl").write_text(EVENTS_2_JSONL)
    else:
        write_parquet(folder / "events-1.parquet", *EVENTS_1_PARQUET)
        write_parquet(folder / "events-2.parquet", *EVENTS_2_PARQUET)


@pytest.mark.parametrize("form", ["csv", "jsonl", "parquet"])
def test_columns_in_another_order_and_extra_columns_load_by_name(tmp_path, form) -> None:
    """The second file's columns are reversed and its `team_id` is text in one row
    ("T-9") where the first file's was an integer: every row loads by column name;
    `team_id` stays an integer column (12 is 12) and "T-9" is kept as text in
    `team_id__v_text`."""
    folder = tmp_path / "dump"
    folder.mkdir()
    write_events(folder, form)
    data = DataDir(tmp_path / "data").ensure()
    result = run_source(data, "app-files", str(folder))
    assert result.rows_rejected == 0
    expected = [
        (11, 1, "signed_up", "s-1", dt.datetime(2026, 5, 1, 10, tzinfo=UTC), 7, None),
        (12, 2, "signed_up", None, dt.datetime(2026, 5, 2, 11, tzinfo=UTC), 8, None),
        (13, 1, "file_uploaded", "s-3", dt.datetime(2026, 5, 4, 9, tzinfo=UTC), None, "T-9"),
        (14, 2, "file_uploaded", None, dt.datetime(2026, 5, 4, 10, tzinfo=UTC), 12, None),
    ]
    sql = ("select id, user_id, name, session_id, created_at, team_id, team_id__v_text "
           "from raw_app.events order by id")
    assert query(data.raw_db, sql) == expected
    assert query(data.raw_db, "select data_type from information_schema.columns where "
                              "table_schema = 'raw_app' and table_name = 'events' "
                              "and column_name = 'team_id'") == [
        ("BIGINT",)]
    # deleted_at as each format has it: a time where the file says so (a CSV value that
    # reads as one, a Parquet timestamp), text in JSON
    deleted = query(data.raw_db, "select deleted_at from raw_app.events order by id")
    if form == "jsonl":
        assert deleted == [(None,), ("2026-05-03 00:00:00",), ("2026-05-05 00:00:00",), (None,)]
    else:
        assert deleted == [(None,), (dt.datetime(2026, 5, 3, tzinfo=UTC),),
                           (dt.datetime(2026, 5, 5, tzinfo=UTC),), (None,)]
    # the same folder again: nothing new, the same rows
    again = run_source(data, "app-files", str(folder))
    assert (again.rows_extracted, again.rows_rejected) == ({}, 0)
    assert query(data.raw_db, sql) == expected


def test_a_later_dump_whose_columns_have_other_types_loads(tmp_path) -> None:
    """Run 1 loads `session_id` written as a number and `team_id` as integers; run 2's
    file has text in both: `session_id` is text (the app's type) from the first run on,
    and a `team_id` that is not an integer is kept as text beside the integers."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "events-1.jsonl").write_text(
        '{"id": 1, "user_id": 1, "name": "signed_up", "session_id": 500, "team_id": 7, '
        '"created_at": "2026-05-01 10:00:00"}\n')
    data = DataDir(tmp_path / "data").ensure()
    run_source(data, "app-files", str(folder))
    (folder / "events-2.csv").write_text(
        "id,user_id,name,session_id,team_id,created_at\n"
        "2,1,file_uploaded,s-abc,acme,2026-05-02 10:00:00\n"
        "3,1,file_uploaded,501,9,2026-05-02 11:00:00\n")
    result = run_source(data, "app-files", str(folder))
    assert result.rows_extracted == {"events": 2}
    assert query(data.raw_db, "select id, session_id, team_id, team_id__v_text "
                              "from raw_app.events order by id") == [
        (1, "500", 7, None), (2, "s-abc", None, "acme"), (3, "501", 9, None)]



def test_a_csv_column_of_digits_keeps_its_digits(tmp_path) -> None:
    """CSV has no types: a column of your own is read as numbers only when that loses
    nothing. Zip codes with a leading zero and ids of 20 digits stay text, digit for
    digit; prices are numbers."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "events.csv").write_text(
        "id,user_id,name,created_at,zip,external_id,price\n"
        "1,1,paid,2026-05-01 10:00:00,02134,12345678901234567890,9.5\n"
        "2,1,paid,2026-05-01 10:01:00,10001,00000000000000000042,12\n")
    data = DataDir(tmp_path / "data").ensure()
    run_source(data, "app-files", str(folder))
    assert query(data.raw_db, "select zip, external_id, price from raw_app.events "
                              "order by id") == [
        ("02134", "12345678901234567890", 9.5), ("10001", "00000000000000000042", 12.0)]

# -- a CSV's own accidents: a trailing comma, a byte that is not UTF-8 -------------------------
def test_a_trailing_comma_and_a_row_that_is_not_utf8_stop_only_that_row(tmp_path) -> None:
    """A header ending in a comma gives a column without a name and without values: it
    is left out. A row with a Latin-1 byte (é) is set aside (`not_utf8`, its row
    number); the file's other rows load."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "events.csv").write_bytes(
        b"id,user_id,name,created_at,\n"
        b"1,1,signed_up,2026-05-01 10:00:00,\n"
        b"2,1,caf\xe9_opened,2026-05-01 10:01:00,\n"
        b"3,1,file_uploaded,2026-05-01 10:02:00,\n")
    data = DataDir(tmp_path / "data").ensure()
    result = run_source(data, "app-files", str(folder))
    assert query(data.raw_db, "select id, name from raw_app.events order by id") == [
        (1, "signed_up"), (3, "file_uploaded")]
    assert rejects(data) == [("events.csv", 2, "not_utf8")]
    assert result.unreadable_files == {}


def test_objects_and_lists_in_extra_columns_load_as_json(tmp_path) -> None:
    """A column of the customer's holding objects or lists (`meta`, `tags`) is a JSON
    column whatever shape each file's objects have; a later plain value in it is that
    value as JSON ("z" -> '"z"', 5 -> '5')."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "events-1.jsonl").write_text(
        '{"id": 1, "user_id": 1, "name": "a", "created_at": "2026-05-01 10:00:00", '
        '"meta": {"plan": "pro"}, "tags": ["x", "y"]}\n')
    (folder / "events-2.jsonl").write_text(
        '{"id": 2, "user_id": 1, "name": "a", "created_at": "2026-05-01 10:01:00", '
        '"meta": {"seats": [1, 2]}, "tags": "z"}\n'
        '{"id": 3, "user_id": 1, "name": "a", "created_at": "2026-05-01 10:02:00", '
        '"meta": 5}\n')
    write_parquet(folder / "events-3.parquet",
                  [{"id": 4, "user_id": 1, "name": "a",
                    "created_at": dt.datetime(2026, 5, 1, 10, 3), "meta": {"plan": "team"}}],
                  pa.schema([("id", pa.int64()), ("user_id", pa.int64()), ("name", pa.string()),
                             ("created_at", pa.timestamp("us")),
                             ("meta", pa.struct([("plan", pa.string())]))]))
    data = DataDir(tmp_path / "data").ensure()
    assert run_source(data, "app-files", str(folder)).rows_rejected == 0
    assert query(data.raw_db, "select id, meta::varchar, tags::varchar from raw_app.events "
                              "order by id") == [
        (1, '{"plan":"pro"}', '["x","y"]'), (2, '{"seats":[1,2]}', '"z"'), (3, "5", None),
        (4, '{"plan":"team"}', None)]
    assert query(data.raw_db, "select column_name, data_type from information_schema.columns "
                              "where table_schema = 'raw_app' and table_name = 'events' "
                              "and column_name in ('meta', 'tags') order by 1") == [
        ("meta", "JSON"), ("tags", "JSON")]
