"""The app's tables from CSV dumps (`users.csv`, `events.csv`, as `journeys generate` writes
them or `COPY ... TO ... CSV HEADER` exports them) → `raw_app.users` / `raw_app.events`.

Merged on `id` (the latest dump of a row wins), so loading the same or an overlapping dump
again adds nothing. A dump already loaded (same size and modification time) is skipped.
Rows without `id` (and events without `user_id`) go to `_rejected_records`.
Timestamps stay as the app stores them, `timestamp without time zone` holding UTC;
staging makes them UTC-aware.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from dlt.sources.filesystem import FileItemDict, filesystem

from pipelines.quarantine import Rejects

SOURCE = "app_files"
TABLES: dict[str, dict[str, pa.DataType]] = {
    "users": {
        "id": pa.int64(),
        "email": pa.string(),
        "signed_up_at": pa.timestamp("ms"),
        "plan": pa.string(),
        "converted_at": pa.timestamp("ms"),
        "churned": pa.bool_(),
        "churned_at": pa.timestamp("ms"),
        "updated_at": pa.timestamp("ms"),
    },
    "events": {
        "id": pa.int64(),
        "user_id": pa.int64(),
        "name": pa.string(),
        "properties": pa.string(),
        "session_id": pa.string(),
        "created_at": pa.timestamp("ms"),
    },
}
REQUIRED = {"users": ("id",), "events": ("id", "user_id")}
BLOCK_BYTES = 64 << 20


def _hints(table: str):
    # events: properties stay JSON; users: when a dump holds two versions of a row, the
    # one updated last wins
    columns = (
        [{"name": "properties", "data_type": "json"}]
        if table == "events"
        else [{"name": "updated_at", "data_type": "timestamp", "dedup_sort": "desc"}]
    )
    return dlt.mark.make_hints(
        table_name=table, primary_key="id", write_disposition="merge", columns=columns
    )


def read_dump(file: FileItemDict, table: str) -> Iterator[Any]:
    """Arrow batches of one CSV dump, with rows missing a key set aside."""
    with file.open(compression="disable") as handle:
        data = handle.read()
    reader = pacsv.open_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types=TABLES[table],
            strings_can_be_null=True,
            true_values=["true", "t", "1"],
            false_values=["false", "f", "0"],
        ),
    )
    rejects = Rejects(SOURCE, file["file_url"])
    position = 0
    for batch in reader:
        part = pa.Table.from_batches([batch])
        missing = pc.is_null(part.column(REQUIRED[table][0]))
        for name in REQUIRED[table][1:]:
            missing = pc.or_(missing, pc.is_null(part.column(name)))
        for offset in pc.indices_nonzero(missing).to_pylist():
            row = part.slice(offset, 1).to_pylist()[0]
            reason = next(f"missing_{n}" for n in REQUIRED[table] if row[n] is None)
            rejects.add(position + offset + 1, reason, str(row))
        position += len(part)
        yield dlt.mark.with_hints(
            part.filter(pc.invert(missing)), _hints(table), create_table_variant=True
        )
    if rejects:
        yield rejects.table_item()


@dlt.transformer(name="app_tables", write_disposition="merge")
def dump_rows(files: list[FileItemDict]) -> Iterator[Any]:
    seen: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
    for file in sorted(files, key=lambda f: f["relative_path"]):
        table = file["file_name"].removesuffix(".csv")
        if table not in TABLES:
            continue
        fingerprint = f"{file['size_in_bytes']}:{file['modification_date']}"
        if seen.get(file["relative_path"]) == fingerprint:
            continue
        yield from read_dump(file, table)
        seen[file["relative_path"]] = fingerprint


@dlt.source(name=SOURCE, max_table_nesting=0)
def app_files(bucket_url: str = dlt.config.value) -> Any:
    """CSV dumps of the app's `users` and `events` tables under `bucket_url`."""
    return filesystem(bucket_url=bucket_url, file_glob="*.csv") | dump_rows
