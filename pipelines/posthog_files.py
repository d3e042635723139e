"""PostHog batch-export files (S3 destination, events model) → `raw_posthog.events`.

Any folder dlt's filesystem source can list (a local path or an fsspec URL such as
`s3://bucket/prefix`) holding `.jsonl`, `.jsonl.gz` or `.parquet` files (Parquet may carry
its compression in the name, `.parquet.zst`; it is read as is).

- **Incremental by file**: a file whose (size, modification time) was loaded before is
  skipped; a new or rewritten file is read. Kept in dlt's resource state, which commits
  with the load, so a failed run re-reads its files next time.
- **Merge on `uuid`**, latest `_inserted_at` winning (`delete-insert` + `dedup_sort`):
  PostHog documents duplicate rows across retries and backfills (SOURCES.md 1.1).
- **Line by line**: a malformed line, a row without `uuid`, `event`, `distinct_id` or a
  parseable `timestamp`, or a timestamp more than a day after the row reached PostHog,
  goes to `_rejected_records` with its reason, file and line; the rest loads.
- `properties`, `person_properties` (and `set` / `set_once` where a destination model
  exports them) are JSON columns; other extra export columns load as they come.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
from collections.abc import Iterator
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.sources.filesystem import FileItemDict, filesystem

from pipelines.quarantine import Rejects

SOURCE = "posthog_files"
REQUIRED = ("uuid", "event", "distinct_id", "timestamp")
TIMESTAMPS = ("timestamp", "_inserted_at", "created_at")
JSON_COLUMNS = ("properties", "person_properties", "set", "set_once")
FUTURE_TOLERANCE = dt.timedelta(days=1)
BATCH_ROWS = 50_000
EVENT_SCHEMA = pa.schema(
    [
        ("uuid", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("_inserted_at", pa.timestamp("us", tz="UTC")),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("event", pa.string()),
        ("properties", pa.string()),
        ("distinct_id", pa.string()),
        ("elements_chain", pa.string()),
        ("person_properties", pa.string()),
        ("person_id", pa.string()),
        ("_source_file", pa.string()),
    ]
)
EVENT_HINTS = dlt.mark.make_hints(
    table_name="events",
    primary_key="uuid",
    write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    columns=[
        *({"name": c, "data_type": "json"} for c in JSON_COLUMNS),
        {"name": "_inserted_at", "data_type": "timestamp", "dedup_sort": "desc"},
    ],
)
SUFFIXES = (
    ".jsonl",
    ".jsonl.gz",
    ".ndjson",
    ".parquet",
    ".parquet.zst",
    ".parquet.lz4",
    ".parquet.snappy",
    ".parquet.gz",
    ".parquet.br",
)


def is_export_file(name: str) -> bool:
    return name.endswith(SUFFIXES) and not name.endswith("_manifest.json")


def parse_timestamp(value: Any) -> dt.datetime:
    """A timezone-aware UTC datetime from export text (`Z` or offsets; naive = UTC)."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def json_text(value: Any) -> str | None:
    """JSON text of a properties value: objects are dumped, text must parse (Parquet
    exports and HogQL carry JSON as text), empty means none (PostHog's nullIf(x, ''))."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        orjson.loads(value)
        return value
    return orjson.dumps(value).decode()


def is_missing(value: Any) -> bool:
    """Null, `''` and blank (white space only) are all no value (SEMANTICS.md, "Clean
    rows first"); anything else is a value, compared exactly, never trimmed."""
    return value is None or (isinstance(value, str) and not value.strip())


def validate(record: Any) -> tuple[dict | None, str | None]:
    """(row ready to load, None) or (None, reason it is rejected)."""
    if not isinstance(record, dict):
        return None, "not_a_json_object"
    for name in REQUIRED:
        if is_missing(record.get(name)):
            return None, f"missing_{name}"
    row = dict(record)
    for name in TIMESTAMPS:
        if is_missing(row.get(name)):
            row[name] = None
            continue
        try:
            row[name] = parse_timestamp(row[name])
        except (ValueError, TypeError, OverflowError):
            return None, f"unparseable_{name.lstrip('_')}"
    received = row.get("created_at") or row.get("_inserted_at") or dt.datetime.now(dt.UTC)
    if row["timestamp"] > received + FUTURE_TOLERANCE:
        return None, "timestamp_in_future"
    for name in JSON_COLUMNS:
        if name in row:
            try:
                row[name] = json_text(row[name])
            except orjson.JSONDecodeError:
                return None, f"{name}_not_json"
    for name in ("uuid", "distinct_id", "event", "person_id"):
        if row.get(name) is not None:
            row[name] = str(row[name])
    return row, None


def _records(file: FileItemDict) -> Iterator[tuple[int, Any, bytes | None]]:
    """(position, decoded record or the decode error, raw bytes) for each row of a file."""
    name = file["file_name"]
    with file.open(compression="disable") as handle:
        if ".parquet" in name:
            parquet = pq.ParquetFile(io.BytesIO(handle.read()))
            position = 0
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                for record in batch.to_pylist():
                    position += 1
                    yield position, record, None
            return
        raw = handle.read()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            yield number, ValueError("blank line"), line
            continue
        try:
            yield number, orjson.loads(line), line
        except orjson.JSONDecodeError as error:
            yield number, error, line


def _to_table(rows: list[dict], location: str) -> pa.Table:
    columns: dict[str, list] = {f.name: [] for f in EVENT_SCHEMA}
    extras = sorted({k for row in rows for k in row} - set(columns))
    for row in rows:
        row["_source_file"] = location
        for name in columns:
            columns[name].append(row.get(name))
    arrays = [pa.array(columns[f.name], type=f.type) for f in EVENT_SCHEMA]
    names = [f.name for f in EVENT_SCHEMA]
    for name in extras:
        values = [row.get(name) for row in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(
                pa.array(
                    [None if v is None else orjson.dumps(v).decode() for v in values],
                    type=pa.string(),
                )
            )
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def read_export_file(file: FileItemDict) -> Iterator[Any]:
    """Rows of one export file (arrow tables) plus its rejected records."""
    location = file["file_url"]
    rejects = Rejects(SOURCE, location)
    batch: list[dict] = []
    for position, record, raw in _records(file):
        if isinstance(record, Exception):
            rejects.add(position, "malformed_json", raw or b"")
            continue
        row, reason = validate(record)
        if reason:
            rejects.add(
                position, reason, raw if raw is not None else orjson.dumps(record, default=str)
            )
            continue
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            yield dlt.mark.with_hints(
                _to_table(batch, location), EVENT_HINTS, create_table_variant=True
            )
            batch = []
    if batch:
        yield dlt.mark.with_hints(
            _to_table(batch, location), EVENT_HINTS, create_table_variant=True
        )
    if rejects:
        yield rejects.table_item()


def _fingerprint(file: FileItemDict) -> str:
    modified = file["modification_date"]
    return f"{file['size_in_bytes']}:{modified.isoformat() if modified else ''}"


@dlt.transformer(name="events", write_disposition="merge")
def export_rows(files: list[FileItemDict]) -> Iterator[Any]:
    """Reads each export file not loaded before (by path, size and modification time)."""
    seen: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
    for file in sorted(files, key=lambda f: f["relative_path"]):
        if not is_export_file(file["file_name"]):
            continue
        fingerprint = _fingerprint(file)
        if seen.get(file["relative_path"]) == fingerprint:
            continue
        yield from read_export_file(file)
        seen[file["relative_path"]] = fingerprint


@dlt.source(name=SOURCE, max_table_nesting=0)
def posthog_files(bucket_url: str = dlt.config.value, file_glob: str = "**/*") -> Any:
    """PostHog batch-export files under `bucket_url` (a folder or fsspec URL)."""
    return filesystem(bucket_url=bucket_url, file_glob=file_glob) | export_rows
