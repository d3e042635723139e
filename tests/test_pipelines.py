"""dlt pipelines on real files into a real DuckDB: counts, idempotency, incremental files,
duplicates across exports, and bad rows kept aside with their reasons."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeys.ingest import IngestError, run_source
from journeys.paths import DataDir


def export_line(
    uuid: str,
    ts: str = "2026-05-01T12:00:00.123456+00:00",
    event: str = "$pageview",
    distinct_id: str = "anon-1",
    inserted: str = "2026-05-01T12:00:02+00:00",
    **extra,
) -> str:
    row = {
        "uuid": uuid,
        "timestamp": ts,
        "_inserted_at": inserted,
        "created_at": "2026-05-01T12:00:01+00:00",
        "event": event,
        "properties": {"$session_id": "s1", "$browser": "Chrome"},
        "distinct_id": distinct_id,
        "elements_chain": "",
        "person_properties": {},
        "person_id": "5f0e6d2c-0000-5000-8000-000000000001",
        **extra,
    }
    return json.dumps(row)


def query(data: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data.raw_db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data").ensure()


def test_generated_exports_load_once_and_a_rerun_adds_nothing(generated, reference, data) -> None:
    folder, _ = generated
    first = run_source(data, "posthog-files", str(folder / "posthog" / "events"))
    unique = len(reference.export_events)
    assert first.rows_extracted["events"] == len(reference.export_rows)
    assert first.table_rows["events"] == unique  # re-exported duplicates merged on uuid
    assert first.rows_rejected == 0
    second = run_source(data, "posthog-files", str(folder / "posthog" / "events"))
    assert second.rows_extracted == {}
    assert second.table_rows["events"] == unique
    # JSON columns stay queryable
    sessions = query(
        data,
        "select count(*) from raw_posthog.events "
        "where json_extract_string(properties, '$.\"$session_id\"') is not null",
    )
    assert sessions[0][0] == unique


def test_a_new_file_loads_and_a_reexported_uuid_keeps_its_latest_copy(data, tmp_path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "w1.jsonl").write_text("\n".join(export_line(f"u{i}") for i in range(5)) + "\n")
    run_source(data, "posthog-files", str(folder))
    newer = export_line("u2", event="$autocapture", inserted="2026-05-02T00:00:00+00:00")
    (folder / "w2.jsonl").write_text(
        "\n".join([newer, export_line("u5"), export_line("u6")]) + "\n"
    )
    result = run_source(data, "posthog-files", str(folder))
    assert result.rows_extracted == {"events": 3}  # only the new file was read
    assert result.table_rows["events"] == 7
    assert query(data, "select event from raw_posthog.events where uuid = 'u2'") == [
        ("$autocapture",)
    ]


def test_bad_rows_are_kept_aside_with_reason_and_line(data, tmp_path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    lines = [
        export_line("good-1"),
        '{"uuid": "broken", "timestamp": ',  # truncated JSON
        "",  # blank line
        export_line("no-distinct", distinct_id=""),
        export_line("bad-ts", ts="yesterday at noon"),
        export_line("future", ts="2027-01-01T00:00:00+00:00"),
        json.dumps(
            {"event": "$pageview", "distinct_id": "x", "timestamp": "2026-05-01T12:00:00Z"}
        ),  # no uuid
        export_line("good-2", ts="2026-05-01T12:00:00Z"),  # 'Z' and no fraction are fine
    ]
    (folder / "w.jsonl").write_text("\n".join(lines) + "\n")
    result = run_source(data, "posthog-files", str(folder))
    assert result.rows_extracted == {"events": 2}
    assert result.rows_rejected == 6
    rejected = query(
        data, "select position, reason from raw_posthog._rejected_records order by position"
    )
    assert rejected == [
        (2, "malformed_json"),
        (3, "malformed_json"),
        (4, "missing_distinct_id"),
        (5, "unparseable_timestamp"),
        (6, "timestamp_in_future"),
        (7, "missing_uuid"),
    ]
    raw = query(data, "select raw from raw_posthog._rejected_records where position = 5")
    assert "yesterday at noon" in raw[0][0]
    columns = query(data, "select column_name from information_schema.columns where "
                          "table_schema = 'raw_posthog' and table_name = '_rejected_records' "
                          "order by ordinal_position")
    assert [c[0] for c in columns] == ["source", "location", "position", "reason", "raw",
                                       "rejected_at"]


def test_empty_and_blank_ids_are_missing_ids_in_jsonl_and_parquet(data, tmp_path) -> None:
    """SEMANTICS.md, Clean rows first: null, '' and blank (any white space, NBSP too) are
    no uuid / distinct_id; an id with white space around a value is kept exactly."""
    folder = tmp_path / "exports"
    folder.mkdir()
    lines = [
        export_line("ok"),
        export_line(""),
        export_line("   "),
        export_line("\u00a0\t"),
        export_line("d-empty", distinct_id=""),
        export_line("d-blank", distinct_id=" \n "),
        export_line(" padded ", distinct_id=" x "),
    ]
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    micros = pa.timestamp("us", tz="UTC")
    pq.write_table(
        pa.table(
            {
                "uuid": ["pq-ok", "", "  ", None, "pq-d-blank"],
                "timestamp": pa.array([1_777_636_800_000_000] * 5, micros),
                "event": ["$pageview"] * 5,
                "distinct_id": ["d", "d", "d", "d", "\t"],
            }
        ),
        folder / "b.parquet",
    )
    result = run_source(data, "posthog-files", str(folder))
    loaded = query(data, "select uuid, distinct_id from raw_posthog.events order by uuid")
    assert loaded == [(" padded ", " x "), ("ok", "anon-1"), ("pq-ok", "d")]
    assert result.rows_rejected == 9
    rejected = query(
        data,
        "select regexp_extract(location, '[^/]+$'), position, reason "
        "from raw_posthog._rejected_records order by 1, 2",
    )
    assert rejected == [
        ("a.jsonl", 2, "missing_uuid"),
        ("a.jsonl", 3, "missing_uuid"),
        ("a.jsonl", 4, "missing_uuid"),
        ("a.jsonl", 5, "missing_distinct_id"),
        ("a.jsonl", 6, "missing_distinct_id"),
        ("b.parquet", 2, "missing_uuid"),
        ("b.parquet", 3, "missing_uuid"),
        ("b.parquet", 4, "missing_uuid"),
        ("b.parquet", 5, "missing_distinct_id"),
    ]


def test_gzip_and_parquet_exports_load_like_jsonl(data, tmp_path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    with gzip.open(folder / "a.jsonl.gz", "wt") as handle:
        handle.write(export_line("gz-1") + "\n" + export_line("gz-2") + "\n")
    table = pa.table(
        {
            "uuid": ["pq-1"],
            "timestamp": pa.array([1_777_636_800_000_000], pa.timestamp("us", tz="UTC")),
            "_inserted_at": pa.array([1_777_636_801_000_000], pa.timestamp("us", tz="UTC")),
            "created_at": pa.array([1_777_636_800_500_000], pa.timestamp("us", tz="UTC")),
            "event": ["signed_up"],
            "properties": ['{"$session_id": "s9", "plan": "trial"}'],
            "distinct_id": ["42"],
            "elements_chain": [""],
            "person_properties": ["{}"],
            "person_id": ["p"],
            "team_id": [2],  # an extra column some destinations export
        }
    )
    pq.write_table(table, folder / "b.parquet.zst", compression="zstd")
    result = run_source(data, "posthog-files", str(folder))
    assert result.table_rows["events"] == 3
    row = query(
        data,
        "select json_extract_string(properties, '$.plan'), team_id, "
        "timestamp from raw_posthog.events where uuid = 'pq-1'",
    )
    # extra columns load as text, so their type never differs between files (issue 21)
    assert row[0][0] == "trial" and row[0][1] == "2"
    assert row[0][2].isoformat().startswith("2026-05-01T12:00:00")


def test_app_dumps_load_merge_on_id_and_reject_rows_without_keys(generated, data, tmp_path) -> None:
    folder, truth = generated
    app = tmp_path / "app"
    shutil.copytree(folder / "app", app)
    first = run_source(data, "app-files", str(app))
    assert first.table_rows == {"events": truth["rows"]["app_events"], "users": truth["users"]}
    assert run_source(data, "app-files", str(app)).rows_extracted == {}
    # the next dump: user 10000 upgraded (a second, later version of its row), one new
    # user, and one row without an id
    with open(app / "users.csv", "a") as handle:
        handle.write(
            "10000,a@x.io,2026-05-04 10:00:00.000,team,2026-11-01 09:00:00.000,"
            "false,,2026-11-01 09:00:00.000\n"
        )
        handle.write("1,new@x.io,2026-10-01 10:00:00.000,trial,,false,,2026-10-01 10:00:00.000\n")
        handle.write(",noid@x.io,2026-10-01 10:00:00.000,trial,,false,,2026-10-01 10:00:00.000\n")
    result = run_source(data, "app-files", str(app))
    assert result.table_rows["users"] == truth["users"] + 1
    assert query(data, "select plan from raw_app.users where id = 10000") == [("team",)]
    assert result.rows_rejected == 1
    assert query(data, "select reason from raw_app._rejected_records") == [("missing_id",)]


def test_a_missing_folder_is_a_clear_error(data, tmp_path) -> None:
    with pytest.raises(IngestError, match=r"posthog-files: .*does-not-exist does not exist"):
        run_source(data, "posthog-files", str(tmp_path / "does-not-exist"))
    with pytest.raises(IngestError, match="unknown source"):
        run_source(data, "mixpanel")


def test_a_run_killed_midway_then_rerun_gives_exactly_one_clean_load(generated, reference,
                                                                     data) -> None:
    """Killed during extract (after some export files): nothing is committed, the file
    state does not advance, and the rerun loads every event exactly once."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    from journeys.ingest import SOURCES, pipeline_for

    folder = str(generated[0] / "posthog" / "events")
    pipeline = pipeline_for(data, SOURCES["posthog-files"])
    source = SOURCES["posthog-files"].build(folder)
    batches = {"seen": 0}

    def die_after_some_files(item):
        batches["seen"] += 1
        if batches["seen"] == 40:
            raise RuntimeError("killed")
        return item

    source.resources["events"].add_map(die_after_some_files)
    with pytest.raises(PipelineStepFailed):
        pipeline.run(source)
    assert not pipeline.has_pending_data
    result = run_source(data, "posthog-files", folder)
    assert result.table_rows["events"] == len(reference.export_events)
    assert query(data, "select count(*) - count(distinct uuid) from raw_posthog.events") == [(0,)]


def test_a_package_left_pending_by_a_killed_load_is_finished_first(generated, reference,
                                                                    data, tmp_path) -> None:
    """Killed after normalize, before load: the next `journeys ingest` loads the pending
    package, then runs as usual; the table ends exactly as one clean run leaves it."""
    from journeys.ingest import SOURCES, pipeline_for

    folder = tmp_path / "exports"
    source_files = sorted((generated[0] / "posthog" / "events").glob("*.jsonl"))
    folder.mkdir()
    for path in source_files[:50]:
        shutil.copy(path, folder)
    pipeline = pipeline_for(data, SOURCES["posthog-files"])
    pipeline.extract(SOURCES["posthog-files"].build(str(folder)))
    pipeline.normalize()
    assert pipeline.has_pending_data  # the load never happened
    for path in source_files[50:]:  # meanwhile, more exports arrive
        shutil.copy(path, folder)
    result = run_source(data, "posthog-files", str(folder))
    assert result.table_rows["events"] == len(reference.export_events)
    assert not pipeline_for(data, SOURCES["posthog-files"]).has_pending_data


def test_any_fsspec_url_works_as_a_folder(generated, reference, data) -> None:
    url = (generated[0] / "posthog" / "events").resolve().as_uri()  # file:///...
    result = run_source(data, "posthog-files", url)
    assert result.table_rows["events"] == len(reference.export_events)
