"""One PostHog export in every form PostHog's S3 batch exports write, through
`journeys ingest`: the same rows land, and the same rows are set aside, whatever the form.

SOURCES.md, "File layout": JSON lines compressed with gzip or brotli (`.jsonl.gz`,
`.jsonl.br`), or Parquet compressed inside the file with zstd, snappy, gzip, brotli or
lz4, the name still showing it (`.parquet.zst`). In Parquet, `properties` and
`person_properties` are strings holding JSON and the times are timestamp(µs, UTC).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeys import generator
from journeys.ingest import run_source
from journeys.paths import DataDir

TIMES = ("timestamp", "_inserted_at", "created_at")
JSON = ("properties", "person_properties")
PARQUET = pa.schema([
    ("uuid", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
    ("_inserted_at", pa.timestamp("us", tz="UTC")), ("created_at", pa.timestamp("us", tz="UTC")),
    ("event", pa.string()), ("properties", pa.string()), ("distinct_id", pa.string()),
    ("elements_chain", pa.string()), ("person_properties", pa.string()),
    ("person_id", pa.string()),
])
COLUMNS = ", ".join(f'"{name}"' for name in PARQUET.names)
FORMS = {
    "w.jsonl": None, "w.jsonl.gz": "gzip", "w.jsonl.br": "brotli",
    "w.parquet": "none", "w.parquet.zst": "zstd", "w.parquet.sz": "snappy",
    "w.parquet.gz": "gzip", "w.parquet.br": "brotli", "w.parquet.lz4": "lz4",
}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The demo generator's export rows for 25 users, plus three rows every form can hold
    and no rule lets through: a blank uuid, no distinct_id, a time two days after the row
    reached PostHog."""
    out = tmp_path_factory.mktemp("generated")
    generator.generate(out, users=25, seed=11)
    rows = [orjson.loads(line) for path in sorted((out / "posthog" / "events").glob("*.jsonl"))
            for line in path.read_bytes().splitlines()]
    bad = dict(rows[0])
    rows.append(bad | {"uuid": "  "})
    rows.append(bad | {"uuid": "no-distinct-id", "distinct_id": None})
    late = dt.datetime.fromisoformat(bad["created_at"]) + dt.timedelta(days=2, seconds=1)
    rows.append(bad | {"uuid": "from-the-future", "timestamp": late.isoformat()})
    return rows


def written(rows: list[dict], name: str, codec: str | None) -> bytes:
    if name.endswith(("jsonl", ".gz", ".br")) and ".parquet" not in name:
        data = b"".join(orjson.dumps(row) + b"\n" for row in rows)
        if codec == "gzip":
            return gzip.compress(data)
        return pa.Codec("brotli").compress(data, asbytes=True) if codec == "brotli" else data
    columns = {name: [row.get(name) for row in rows] for name in PARQUET.names}
    for name in TIMES:
        columns[name] = [dt.datetime.fromisoformat(v) if v else None for v in columns[name]]
    for name in JSON:  # PostHog's Parquet: JSON held as text
        columns[name] = [None if v is None else orjson.dumps(v).decode() for v in columns[name]]
    sink = io.BytesIO()
    pq.write_table(pa.table(columns, schema=PARQUET), sink, compression=codec,
                   row_group_size=1000)
    return sink.getvalue()


def expected(rows: list[dict]) -> list[tuple]:
    """What every form must load, worked out from the rows in Python."""
    kept = [row for row in rows
            if row["uuid"].strip() and row["distinct_id"] and row["uuid"] != "from-the-future"]
    return sorted(
        tuple(dt.datetime.fromisoformat(row[n]) if n in TIMES and row[n]
              else row[n] for n in PARQUET.names)
        for row in kept)


def loaded(data: DataDir) -> tuple[list[tuple], list[str]]:
    with duckdb.connect(str(data.raw_db), read_only=True) as con:
        rows = con.execute(f"select {COLUMNS} from raw_posthog.events").fetchall()
        reasons = con.execute("select reason from raw_posthog._rejected_records "
                              "order by reason").fetchall()
    json_at = [PARQUET.names.index(n) for n in JSON]
    rows = [tuple(orjson.loads(v) if i in json_at and v is not None else v
                  for i, v in enumerate(row)) for row in rows]
    return sorted(rows), [r for (r,) in reasons]


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_form_of_one_export_loads_the_same_rows(export, tmp_path: Path, name) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / name).write_bytes(written(export, name, FORMS[name]))
    data = DataDir(tmp_path / "data")
    result = run_source(data, "posthog-files", str(folder))
    rows, reasons = loaded(data)
    assert reasons == ["missing_distinct_id", "missing_uuid", "timestamp_in_future"]
    assert result.rows_rejected == 3
    assert len(rows) == len(export) - 3
    assert rows == expected(export)


def test_a_cut_brotli_file_loads_its_complete_lines_and_names_the_cut(export, tmp_path) -> None:
    """As a cut `.gz` (tests/test_posthog_bad_files.py): the lines brotli gave before the
    cut load, the cut is one reject at the line it fell in, the run goes on."""
    good = export[:-3]
    whole = written(good, "w.jsonl.br", "brotli")
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "cut.jsonl.br").write_bytes(whole[: len(whole) // 2])
    (folder / "other.jsonl").write_bytes(written(good[:1], "other.jsonl", None))
    data = DataDir(tmp_path / "data")
    run_source(data, "posthog-files", str(folder))
    with duckdb.connect(str(data.raw_db), read_only=True) as con:
        uuids = {u for (u,) in con.execute("select uuid from raw_posthog.events").fetchall()}
        rejects = con.execute("select location, position, reason "
                              "from raw_posthog._rejected_records").fetchall()
    [(location, position, reason)] = rejects
    assert location.endswith("cut.jsonl.br") and reason == "truncated_file"
    assert 1 < position < len(good)  # the lines before it, and only those, loaded
    assert uuids == {row["uuid"] for row in good[: position - 1]}
