"""PostHog export folders as they arrive (issue 21, items 1-5): one bad file or row never
stops a load. Each case is a small file written here by hand, loaded through the real dlt
pipeline into a real DuckDB; the good rows all land, the bad ones are in
`_rejected_records` with the file's name and line, and a rerun adds nothing."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import dlt
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.dbt import run_dbt
from journeys.ingest import run_source
from journeys.paths import DataDir

BOM = b"\xef\xbb\xbf"
UTC_US = pa.timestamp("us", tz="UTC")
NOON = 1_777_636_800_000_000  # 2026-05-01T12:00:00Z in microseconds


def line(uuid: object, **changes: object) -> str:
    """One export line (PostHog's S3 "events" model), with fields changed or added."""
    row = {
        "uuid": uuid,
        "timestamp": "2026-05-01T12:00:00.123456+00:00",
        "_inserted_at": "2026-05-01T12:00:02+00:00",
        "created_at": "2026-05-01T12:00:01+00:00",
        "event": "$pageview",
        "properties": {"$session_id": "s1"},
        "distinct_id": "anon-1",
        "elements_chain": "",
        "person_properties": {},
        "person_id": "5f0e6d2c-0000-5000-8000-000000000001",
        **changes,
    }
    return json.dumps(row)


def lines(*rows: str, end: str = "\n") -> bytes:
    return "".join(row + end for row in rows).encode()


def stored_gzip(data: bytes) -> bytes:
    """gzip without compression: a 15-byte header (gzip's 10 and a stored block's 5),
    the data as it is, an 8-byte trailer; so a cut lands at a byte counted by hand."""
    packed = gzip.compress(data, compresslevel=0, mtime=0)
    assert packed[15:15 + len(data)] == data and len(packed) == 15 + len(data) + 8
    return packed


def parquet_bytes(**columns: pa.Array | list) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def parquet_row(uuid: str, **changes: pa.Array | list) -> bytes:
    columns = {
        "uuid": [uuid],
        "timestamp": pa.array([NOON], UTC_US),
        "_inserted_at": pa.array([NOON + 2_000_000], UTC_US),
        "created_at": pa.array([NOON + 1_000_000], UTC_US),
        "event": ["$pageview"],
        "properties": ['{"$session_id": "s1"}'],
        "distinct_id": ["anon-1"],
        "elements_chain": [""],
        "person_properties": ["{}"],
        "person_id": ["p-1"],
        **changes,
    }
    return parquet_bytes(**columns)


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def query(data: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data.raw_db), read_only=True) as con:
        return con.execute(sql).fetchall()


def loaded(data: DataDir) -> list[str]:
    return [r[0] for r in query(data, "select uuid from raw_posthog.events order by uuid")]


def rejects(data: DataDir) -> list[tuple]:
    """(file name, position, reason) of every reject, sorted."""
    return query(data, "select regexp_extract(location, '[^/]*$'), position, reason "
                       "from raw_posthog._rejected_records order by all")


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data").ensure()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "exports"
    path.mkdir()
    return path


# -- 1. a truncated .jsonl.gz, and files that cannot be opened --------------------------------
def test_a_cut_gzip_loads_its_complete_lines_and_the_rest_of_the_run(data, folder) -> None:
    """The upload was cut inside line 3: lines 1-2 load, line 3 and the cut are one reject
    at line 3 naming the file; the other files load. A copy missing only gzip's 8-byte
    trailer has all its lines complete: they load, and the cut is named at line 3."""
    complete = lines(line("t1"), line("t2"), line("t3"))
    partial_line = line("t3").encode()[:20]
    cut_at = 15 + len(lines(line("t1"), line("t2"))) + len(partial_line)
    write(folder, {
        "good.jsonl": lines(line("g1"), line("g2")),
        "cut.jsonl.gz": stored_gzip(complete)[:cut_at],
        "trailer.jsonl.gz": stored_gzip(lines(line("u1"), line("u2")))[:-8],
    })
    result = run_source(data, "posthog-files", str(folder))
    assert loaded(data) == ["g1", "g2", "t1", "t2", "u1", "u2"]
    assert rejects(data) == [("cut.jsonl.gz", 3, "truncated_file"),
                             ("trailer.jsonl.gz", 3, "truncated_file")]
    assert result.rows_rejected == 2
    (raw,) = query(data, "select raw from raw_posthog._rejected_records "
                         "where location like '%cut.jsonl.gz'")[0]
    assert raw.endswith(partial_line.decode())  # the incomplete line, kept for inspection
    assert f"{cut_at:,} bytes" in raw  # which copy of the file was cut


def test_a_cut_gzip_is_not_reread_until_it_changes_then_merges_on_uuid(data, folder) -> None:
    complete = lines(line("t1"), line("t2"), line("t3"))
    cut = stored_gzip(complete)[:15 + len(lines(line("t1"))) + 5]
    write(folder, {"cut.jsonl.gz": cut})
    run_source(data, "posthog-files", str(folder))
    assert loaded(data) == ["t1"]
    before = query(data, "select * from raw_posthog._rejected_records")

    again = run_source(data, "posthog-files", str(folder))  # unchanged: not read again
    assert again.rows_extracted == {} and again.rows_rejected == 0
    assert query(data, "select * from raw_posthog._rejected_records") == before

    write(folder, {"cut.jsonl.gz": gzip.compress(complete)})  # the whole file arrives
    whole = run_source(data, "posthog-files", str(folder))
    assert whole.rows_extracted == {"events": 3} and whole.rows_rejected == 0
    assert loaded(data) == ["t1", "t2", "t3"]  # t1 merged, not doubled
    # the cut copy's reject stays, as the record of that copy (its size is in its text)
    assert query(data, "select * from raw_posthog._rejected_records") == before


def test_a_file_that_cannot_be_opened_is_one_reject_and_the_run_goes_on(data, folder) -> None:
    write(folder, {
        "good.jsonl": lines(line("g1")),
        "plain.jsonl.gz": lines(line("p1")),  # named .gz, but not gzip
        "broken.parquet": b"PAR1 this is not a parquet file",
        "empty.jsonl.gz": b"",  # an upload cut before its first byte
    })
    result = run_source(data, "posthog-files", str(folder))
    assert loaded(data) == ["g1"]
    assert rejects(data) == [("broken.parquet", 0, "unreadable_file"),
                             ("empty.jsonl.gz", 1, "truncated_file"),
                             ("plain.jsonl.gz", 0, "unreadable_file")]
    assert result.rows_rejected == 3
    raws = query(data, "select raw from raw_posthog._rejected_records order by location")
    assert "ArrowInvalid" in raws[0][0] and "gzip" in raws[2][0]
    again = run_source(data, "posthog-files", str(folder))
    assert again.rows_rejected == 0 and again.rows_extracted == {}
    assert len(rejects(data)) == 3


# -- 2. a UTF-8 byte order mark ---------------------------------------------------------------
def test_a_byte_order_mark_is_read_as_one(data, folder) -> None:
    write(folder, {
        "bom.jsonl": BOM + lines(line("b1"), line("b2"), end="\r\n"),
        "bom.jsonl.gz": gzip.compress(BOM + lines(line("b3"))),
        "bom.json": BOM + json.dumps([json.loads(line("b4"))]).encode(),
    })
    result = run_source(data, "posthog-files", str(folder))
    assert loaded(data) == ["b1", "b2", "b3", "b4"]
    assert result.rows_rejected == 0


# -- 3. a contract column of another type -----------------------------------------------------
def test_contract_columns_become_text_where_lossless_else_the_row_is_set_aside(
        data, folder) -> None:
    """Integers are text without loss (5 -> '5'); an object, a list, a boolean or a
    fraction in a text column is not: that row is set aside naming the column."""
    write(folder, {
        "typed.jsonl": lines(
            line("c1", elements_chain=5),
            line("c2", distinct_id=123),
            line(3003, person_id=77, event=404),
            line("c4", elements_chain={"tag_name": "a"}),
            line("c5", distinct_id=True),
            line("c6", event=1.5),
            line("c7", person_id=["p"]),
        ),
        "typed.parquet": parquet_row("c8", distinct_id=pa.array([42], pa.int64()),
                                     elements_chain=pa.array([7], pa.int32())),
    })
    result = run_source(data, "posthog-files", str(folder))
    assert query(data, "select uuid, event, distinct_id, elements_chain, person_id "
                       "from raw_posthog.events order by uuid") == [
        ("3003", "404", "anon-1", "", "77"),
        ("c1", "$pageview", "anon-1", "5", "5f0e6d2c-0000-5000-8000-000000000001"),
        ("c2", "$pageview", "123", "", "5f0e6d2c-0000-5000-8000-000000000001"),
        ("c8", "$pageview", "42", "7", "p-1"),
    ]
    assert rejects(data) == [("typed.jsonl", 4, "elements_chain_wrong_type"),
                             ("typed.jsonl", 5, "distinct_id_wrong_type"),
                             ("typed.jsonl", 6, "event_wrong_type"),
                             ("typed.jsonl", 7, "person_id_wrong_type")]
    assert result.rows_rejected == 4


# -- 4. extra columns whose type differs between files ----------------------------------------
def test_extra_columns_load_as_text_whatever_their_type(data, folder) -> None:
    write(folder, {
        "a.jsonl": lines(line("x1", team_id=2), line("x2", team_id=None)),
        "b.jsonl": lines(line("x3", team_id="two"), line("x4", team_id={"id": 2}),
                         line("x5", team_id=True), line("x6", team_id=1.5), line("x7")),
        "c.parquet": parquet_row("x8", team_id=pa.array([2], pa.int64()),
                                 ip=pa.array(["10.0.0.1"])),
    })
    result = run_source(data, "posthog-files", str(folder))
    assert result.rows_rejected == 0
    write(folder, {"d.jsonl": lines(line("x9", team_id=[1, 2], ip=4))})  # a later run
    run_source(data, "posthog-files", str(folder))
    assert query(data, "select uuid, team_id, ip from raw_posthog.events order by uuid") == [
        ("x1", "2", None), ("x2", None, None), ("x3", "two", None), ("x4", '{"id":2}', None),
        ("x5", "true", None), ("x6", "1.5", None), ("x7", None, None),
        ("x8", "2", "10.0.0.1"), ("x9", "[1,2]", "4"),
    ]
    types = query(data, "select column_name, data_type from information_schema.columns "
                        "where table_schema = 'raw_posthog' and table_name = 'events' "
                        "and column_name in ('team_id', 'ip') or column_name like '%\\_\\_v\\_%' "
                        "escape '\\' order by 1")
    assert types == [("ip", "VARCHAR"), ("team_id", "VARCHAR")]  # and no variant columns


def test_an_extra_column_an_earlier_load_typed_keeps_its_type(data, folder) -> None:
    """Before issue 21 this reader loaded extra columns as they came (`team_id` as integers
    from Parquet). In such a warehouse what fits the column stays there; a value that
    does not goes beside it as text (`team_id__v_text`, dlt's variant name): the load
    never fails on it, nor does every later run."""
    from journeys.ingest import SOURCES, pipeline_for

    @dlt.source(name="posthog_files", max_table_nesting=0)
    def earlier_reader() -> dlt.sources.DltResource:
        table = pq.read_table(io.BytesIO(parquet_row("l1", team_id=pa.array([2], pa.int64()))))
        return dlt.resource([table], name="events", primary_key="uuid",
                            write_disposition="merge")

    pipeline_for(data, SOURCES["posthog-files"]).run(earlier_reader())
    write(folder, {"b.jsonl": lines(line("l2", team_id="two"), line("l3", team_id=3))})
    result = run_source(data, "posthog-files", str(folder))
    assert result.rows_extracted == {"events": 2} and result.rows_rejected == 0
    assert query(data, "select uuid, team_id, team_id__v_text from raw_posthog.events "
                       "order by uuid") == [("l1", 2, None), ("l2", None, "two"), ("l3", 3, None)]
    again = run_source(data, "posthog-files", str(folder))
    assert again.rows_extracted == {}


# -- 5. file names ----------------------------------------------------------------------------
def test_every_export_file_name_is_read_and_any_other_is_listed_as_skipped(
        data, folder) -> None:
    manifest = "2026-05-01T00:00:00+00:00-2026-05-02T00:00:00+00:00_manifest.json"
    write(folder, {
        "a.json": lines(line("n1")),
        "b.JSONL": lines(line("n2")),
        "c.ndjson": lines(line("n3")),
        "d.json.gz": gzip.compress(lines(line("n4"))),
        "e.JSONL.GZ": gzip.compress(lines(line("n5"))),
        "f.Parquet": parquet_row("n6"),
        "g.parquet.zst": parquet_row("n7"),
        manifest: json.dumps({"files": ["a.json"]}).encode(),
        "notes.txt": b"exported by hand\n",
        "events.csv": b"uuid,event\nn0,$pageview\n",
        "old/x.tsv": b"uuid\tevent\n",
    })
    result = run_source(data, "posthog-files", str(folder))
    assert loaded(data) == ["n1", "n2", "n3", "n4", "n5", "n6", "n7"]
    assert result.rows_rejected == 0
    assert result.skipped_files == ["events.csv", "notes.txt", "old/x.tsv"]
    again = run_source(data, "posthog-files", str(folder))  # still named every run
    assert again.skipped_files == ["events.csv", "notes.txt", "old/x.tsv"]
    (folder / "notes.txt").unlink()
    assert run_source(data, "posthog-files", str(folder)).skipped_files == [
        "events.csv", "old/x.tsv"]


def test_a_json_file_holding_one_document_loads_its_rows(data, folder) -> None:
    """A `.json` file may be JSON lines, one array of rows (position = the element's
    number) or one row written over several lines."""
    write(folder, {
        "array.json": json.dumps([json.loads(line("j1")), {"event": "$pageview"},
                                  json.loads(line("j3"))], indent=2).encode(),
        "one.json": json.dumps(json.loads(line("j4")), indent=2).encode(),
        "array.json.gz": gzip.compress(json.dumps([json.loads(line("j5"))]).encode()),
    })
    result = run_source(data, "posthog-files", str(folder))
    assert loaded(data) == ["j1", "j3", "j4", "j5"]
    assert rejects(data) == [("array.json", 2, "missing_uuid")]
    assert result.rows_rejected == 1


def test_the_ingest_summary_names_the_skipped_files(data, folder) -> None:
    from click.testing import CliRunner

    from journeys.cli import main

    write(folder, {"a.jsonl": lines(line("s1")), "notes.txt": b"hello\n"})
    for _ in range(2):  # every run, not only the first
        out = CliRunner().invoke(main, ["ingest", "--data-dir", str(data.root), "--source",
                                        "posthog-files", "--path", str(folder)])
        assert out.exit_code == 0, out.output
        assert "skipped 1 file" in out.output and "notes.txt" in out.output


# -- every case in one folder -----------------------------------------------------------------
def every_case(folder: Path) -> tuple[list[str], list[tuple]]:
    """A folder of good files beside one file of each case; (uuids that load, rejects)."""
    complete = lines(line("t1"), line("t2"), line("t3"))
    write(folder, {
        "good.jsonl": lines(line("g1"), line("g2", distinct_id="user-2")),
        "good.parquet.zst": parquet_row("g3"),
        "cut.jsonl.gz": stored_gzip(complete)[:15 + len(lines(line("t1"), line("t2"))) + 9],
        "plain.jsonl.gz": lines(line("p1")),
        "broken.parquet": b"PAR1 nope",
        "bom.jsonl": BOM + lines(line("b1"), end="\r\n"),
        "typed.jsonl": lines(line("c1", elements_chain=5), line("c2", distinct_id=123),
                             line("c3", elements_chain=["a"])),
        "extra-int.jsonl": lines(line("x1", team_id=2)),
        "extra-text.jsonl": lines(line("x2", team_id="two")),
        "names/a.json": json.dumps([json.loads(line("n1"))]).encode(),
        "names/b.JSONL": lines(line("n2")),
        "names/c.ndjson": lines(line("n3"), '{"uuid": "n4", "timestamp": '),
        "names/d.json.gz": gzip.compress(lines(line("n5"))),
        "names/w_manifest.json": b'{"files": []}',
        "names/readme.txt": b"not an export\n",
    })
    uuids = ["b1", "c1", "c2", "g1", "g2", "g3", "n1", "n2", "n3", "n5", "t1", "t2", "x1", "x2"]
    bad = [("broken.parquet", 0, "unreadable_file"), ("c.ndjson", 2, "malformed_json"),
           ("cut.jsonl.gz", 3, "truncated_file"), ("plain.jsonl.gz", 0, "unreadable_file"),
           ("typed.jsonl", 3, "elements_chain_wrong_type")]
    return uuids, bad


def test_the_same_folder_twice_gives_the_same_raw_tables(data, folder) -> None:
    uuids, bad = every_case(folder)
    first = run_source(data, "posthog-files", str(folder))
    assert loaded(data) == uuids and rejects(data) == bad
    assert first.rows_extracted == {"events": len(uuids)} and first.rows_rejected == len(bad)
    assert first.skipped_files == ["names/readme.txt"]
    tables = [query(data, f"select * from raw_posthog.{t} order by all")
              for t in ("events", "_rejected_records")]
    second = run_source(data, "posthog-files", str(folder))
    assert second.rows_extracted == {} and second.rows_rejected == 0
    assert [query(data, f"select * from raw_posthog.{t} order by all")
            for t in ("events", "_rejected_records")] == tables


def test_a_build_passes_on_a_folder_of_every_case(data, folder) -> None:
    uuids, _ = every_case(folder)
    run_source(data, "posthog-files", str(folder))
    result = run_dbt(data, "build", quiet=True)
    assert result.ok, result.statuses
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        staged = con.execute("select event_id from staging.stg_posthog__events "
                             "order by 1").fetchall()
    assert [r[0] for r in staged] == uuids


# -- the gzip reader against Python's gzip ----------------------------------------------------
@given(texts=st.lists(st.binary(max_size=3_000), min_size=1, max_size=3),
       level=st.sampled_from([0, 1, 9]), padding=st.integers(0, 3),
       cut=st.floats(0, 1, exclude_max=True))
@settings(max_examples=200, deadline=None)
def test_the_gzip_stream_reader_gives_what_gzip_gives(texts, level, padding, cut) -> None:
    """Read a few bytes at a time (so every limit is hit): members one after another and
    zero padding give what Python's gzip gives; a copy cut inside its last member gives a
    prefix of that, then `truncated_file`."""
    from pipelines import posthog_files

    members = [gzip.compress(text, compresslevel=level, mtime=0) for text in texts]
    whole = b"".join(members) + b"\0" * padding
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(posthog_files, "READ_BYTES", 7)
        patch.setattr(posthog_files, "GZIP_READ_BYTES", 5)
        assert b"".join(posthog_files._gunzipped(io.BytesIO(whole))) == gzip.decompress(whole)
        last = len(whole) - padding - len(members[-1])
        cut_copy = whole[: last + 1 + int(cut * (len(members[-1]) - 1))]  # 1 byte or more
        given_back: list[bytes] = []
        with pytest.raises(posthog_files.BrokenFile) as broken:
            given_back.extend(posthog_files._gunzipped(io.BytesIO(cut_copy)))
    assert broken.value.reason == "truncated_file"
    assert gzip.decompress(whole).startswith(b"".join(given_back))
