"""The app's tables from dump files → `raw_app.users` / `raw_app.events`: the raw rows the
app's Postgres gives (`app_postgres`), from the files a customer exports.

Files anywhere under the folder (or fsspec URL) named `users.<format>` or
`events.<format>` (or `users-<anything>.<format>`, `users_...`, for dumps taken over time):
- CSV, `.csv` or `.csv.gz`, as `COPY ... TO ... (FORMAT csv, HEADER)` writes it: an empty
  unquoted field is null, `""` an empty string;
- JSON lines, `.jsonl` or `.ndjson`, optionally `.gz`: one object per line (`row_to_json`);
- Parquet, `.parquet`.

- **The same raw rows as app-postgres.** Column names are normalised as dlt does
  (Prisma's `userId` → `user_id`). Ids are read as they are: a column of integers (or of
  text that is an integer written the usual way, `42` not `042`) loads as integers;
  otherwise as text, so Prisma's cuids and uuids survive. Either way staging compares
  them as text. A column keeps the type its first load gave it: a later text id for an
  integer column is set aside (`id_not_integer`). Timestamps are read as UTC (an offset is
  converted); `churned` from `true`/`t`/`1`/`false`/`f`/`0`; `properties` keeps only the
  keys that are set (`app_rows.json_text`); other columns load as they come.
- **Keys** (`app_rows`): a user without `id`, an event without `id` or `user_id` (null,
  `''` or blank) is set aside with the reason, its file and its row (CSV, Parquet) or
  line (JSON lines); so is a row whose timestamp does not parse, whose `properties` is
  not JSON, or a line that is not a JSON object.
- **Merged on `id`**: the latest dump of a row wins (users by `updated_at`), so loading
  the same or an overlapping dump again adds nothing. A file already loaded (same size
  and modification time) is skipped.
- **A file that cannot be read** (not Parquet, a gzip cut short, no `id` column) is one
  reject naming the file (`unreadable_file`, position 0, the error as its text); the
  rest of the run loads, and the file is read again next run.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import re
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.sources.filesystem import FileItemDict, filesystem

from pipelines.app_rows import KEYS, VALUES, json_text, parse_json
from pipelines.quarantine import Rejects

SOURCE = "app_files"
FORMATS = {  # file name ending -> reader
    ".csv": "csv", ".csv.gz": "csv",
    ".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".ndjson": "jsonl", ".ndjson.gz": "jsonl",
    ".parquet": "parquet",
}
TIMESTAMPS = {"users": ("signed_up_at", "converted_at", "churned_at", "updated_at"),
              "events": ("created_at",)}
BOOLEANS = {"users": ("churned",), "events": ()}
JSON_COLUMNS = {"users": (), "events": ("properties",)}
TEXTS = {"users": ("email", "plan"), "events": ("name", "session_id")}
TRUE, FALSE = ("true", "t", "1"), ("false", "f", "0")
TIMESTAMP = pa.timestamp("us")  # naive, holding UTC, as the app's Postgres stores it
INTEGER_TEXT = r"^-?(0|[1-9][0-9]{0,18})$"  # an integer as Postgres writes one
INT64_DIGITS = 19
BATCH_ROWS = 50_000
BLOCK_BYTES = 64 << 20
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, pa.ArrowException)
NAMING = NamingConvention()


class UnreadableFile(ValueError):
    """The file as a whole cannot be loaded (e.g. it has no `id` column)."""


@dataclass
class Batch:
    """Rows read from a file, their positions in it (row or line numbers), and problems
    found while reading (row index -> reason)."""

    table: pa.Table
    positions: Sequence[int]
    problems: dict[int, str] = field(default_factory=dict)
    lines: list[bytes] | None = None  # JSON lines: each row's text, kept for its reject


def dump_of(file_name: str) -> tuple[str, str] | None:
    """(table, format) of a dump file, or None for any other file."""
    for ending, form in FORMATS.items():
        if file_name.endswith(ending):
            table = re.split(r"[-_.]", file_name[: -len(ending)], maxsplit=1)[0]
            return (table, form) if table in KEYS else None
    return None


# -- reading each format ----------------------------------------------------------------------
def _csv_batches(data: bytes, table: str) -> Iterator[Batch]:
    """CSV as Postgres COPY writes it; the app's own columns are read as text, to be typed
    by `conform` (a bad value there is one row's problem, not the file's)."""
    first_line = data.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    header = next(csv.reader([first_line]), [])
    ours = {*KEYS[table], *TIMESTAMPS[table], *BOOLEANS[table], *JSON_COLUMNS[table],
            *TEXTS[table]}
    reader = pacsv.open_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in header if NAMING.normalize_identifier(n) in ours},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    position = 0
    for record_batch in reader:
        part = pa.Table.from_batches([record_batch])
        yield Batch(part, range(position + 1, position + 1 + len(part)))
        position += len(part)


def _json_batches(data: bytes, table: str, rejects: Rejects) -> Iterator[Batch]:
    """JSON lines; a line that is not a JSON object is rejected on its own."""
    rows: list[dict] = []
    positions: list[int] = []
    lines: list[bytes] = []
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            record = parse_json(line)
        except ValueError:  # also a blank line
            rejects.add(number, "malformed_json", line)
            continue
        if not isinstance(record, dict):
            rejects.add(number, "not_a_json_object", line)
            continue
        rows.append(record)
        positions.append(number)
        lines.append(line)
        if len(rows) >= BATCH_ROWS:
            yield _json_batch(rows, positions, lines, table)
            rows, positions, lines = [], [], []
    if rows:
        yield _json_batch(rows, positions, lines, table)


def _json_batch(rows: list[dict], positions: list[int], lines: list[bytes], table: str
                ) -> Batch:
    names = list(dict.fromkeys(name for row in rows for name in row))
    arrays: list[pa.Array] = []
    problems: dict[int, str] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if NAMING.normalize_identifier(name) in KEYS[table]:
            arrays.append(_json_ids(values, NAMING.normalize_identifier(name), problems))
        else:
            arrays.append(_json_values(values))
    return Batch(pa.Table.from_arrays(arrays, names=names), positions, problems, lines)


def _json_ids(values: list[Any], name: str, problems: dict[int, str]) -> pa.Array:
    """Ids as JSON has them: integers stay integers unless text ids (or integers beyond
    64 bits) share the column."""
    if all(v is None or (type(v) is int and -(2**63) <= v < 2**63) for v in values):
        return pa.array(values, pa.int64())
    texts: list[str | None] = []
    for index, value in enumerate(values):
        if isinstance(value, str) or value is None:
            texts.append(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            texts.append(str(value))
        else:  # a number with a fraction, true, an object: not an id
            problems.setdefault(index, f"{name}_not_text_or_integer")
            texts.append(None)
    return pa.array(texts, pa.string())


def _json_values(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # mixed types in one column: each value as text (JSON text for objects and lists)
        return pa.array([v if v is None or isinstance(v, str) else _dumped(v) for v in values],
                        pa.string())


def _dumped(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, ensure_ascii=False)


def _parquet_batches(data: bytes) -> Iterator[Batch]:
    parquet = pq.ParquetFile(io.BytesIO(data))
    position = 0
    for record_batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        part = pa.Table.from_batches([record_batch])
        yield Batch(part, range(position + 1, position + 1 + len(part)))
        position += len(part)


# -- typing the columns as the app's Postgres has them ----------------------------------------
class Problems:
    """The first reason each row of a batch is set aside."""

    def __init__(self, size: int, found: dict[int, str]):
        self.reasons: list[str | None] = [found.get(i) for i in range(size)]

    def flag(self, mask: pa.Array | list[bool], reason: str) -> None:
        flags = mask.to_pylist() if isinstance(mask, pa.Array | pa.ChunkedArray) else mask
        for index, flagged in enumerate(flags):
            if flagged and self.reasons[index] is None:
                self.reasons[index] = reason

    def flag_row(self, index: int, reason: str) -> None:
        if self.reasons[index] is None:
            self.reasons[index] = reason


def _normalised_names(part: pa.Table) -> pa.Table:
    names = [NAMING.normalize_identifier(n) for n in part.column_names]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise UnreadableFile(f"columns {part.column_names} give the raw names {doubled} twice")
    return part.rename_columns(names)


def _plain(values: pa.Array) -> pa.Array:
    """Arrow's extension types as plain arrays: a uuid (Parquet's UUID type) as its usual
    text, anything else (Parquet's JSON type, ...) as what it is stored as."""
    if isinstance(values.type, pa.BaseExtensionType):
        if values.type.extension_name == "arrow.uuid":
            return _uuid_text(values.storage)
        return values.storage
    return values


def _uuid_text(values: pa.Array) -> pa.Array:
    return pa.array([None if v is None else str(uuid.UUID(bytes=v)) for v in values.to_pylist()],
                    pa.string())


def _integer_texts(values: pa.Array) -> list[bool]:
    """Which text values are an int64 written the usual way (no sign +, no leading zero)."""
    canonical = pc.fill_null(pc.match_substring_regex(values, INTEGER_TEXT), False)
    digits = pc.utf8_length(pc.utf8_ltrim(values, "-"))
    long = pc.fill_null(pc.and_(canonical, pc.greater_equal(digits, INT64_DIGITS)), False)
    flags = canonical.to_pylist()
    if pc.any(long).as_py():  # 19 digits: within int64 or not
        for index in pc.indices_nonzero(long).to_pylist():
            flags[index] = -(2**63) <= int(values[index].as_py()) < 2**63
    return flags


def _known_id_type(table: str, name: str) -> str | None:
    """The raw column's type ("bigint" or "text") when an earlier load fixed it."""
    columns = dlt.current.source_schema().tables.get(table, {}).get("columns", {})
    return columns.get(name, {}).get("data_type")


def _ids(values: pa.Array, table: str, name: str, problems: Problems) -> pa.Array:
    """An id column typed as integers or as text; rows without an id are flagged."""
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    if pa.types.is_integer(values.type):
        values = values.cast(pa.int64())
        problems.flag(values.is_null(), f"missing_{name}")
        integers = [True] * len(values)
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type) or (
            pa.types.is_fixed_size_binary(values.type) and values.type.byte_width == 16):
        values = (_uuid_text(values) if pa.types.is_fixed_size_binary(values.type)
                  else values.cast(pa.string()))
        blank = pc.equal(pc.utf8_trim_whitespace(values), "")
        problems.flag(pc.fill_null(blank, True), f"missing_{name}")
        integers = _integer_texts(values)
    else:  # a float, a boolean, ...: not an id
        problems.flag(values.is_valid(), f"{name}_not_text_or_integer")
        problems.flag(values.is_null(), f"missing_{name}")
        return pa.nulls(len(values), pa.string())
    present = [i for i, reason in enumerate(problems.reasons) if reason is None]
    kind = _known_id_type(table, name)
    if kind is None and present:
        kind = "bigint" if all(integers[i] for i in present) else "text"
    if kind == "bigint":
        if pa.types.is_integer(values.type):
            return values
        problems.flag([not ok for ok in integers], f"{name}_not_integer")
        keep = pa.array([ok and r is None for ok, r in zip(integers, problems.reasons,
                                                           strict=True)])
        return pc.if_else(keep, values, pa.scalar(None, pa.string())).cast(pa.int64())
    return values.cast(pa.string())


def _missing_values(values: pa.Array | None, size: int) -> pa.Array:
    """Where a required value is null, '' or blank (every row when the column is absent)."""
    if values is None:
        return pa.array([True] * size)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True)
    return values.is_null()


def _timestamps(values: pa.Array, name: str, problems: Problems) -> pa.Array:
    """UTC timestamps without a zone, as Postgres' `timestamp without time zone` holds them."""
    kind = values.type
    if pa.types.is_timestamp(kind):
        if kind.tz:
            values = values.cast(pa.timestamp(kind.unit, "UTC"))
        return pc.cast(values, TIMESTAMP, safe=False)
    if pa.types.is_date(kind) or pa.types.is_null(kind):
        return values.cast(TIMESTAMP)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            return pc.cast(values, TIMESTAMP)  # the usual case: all ISO text, no offset
        except pa.ArrowInvalid:
            pass
    parsed = []
    for index, value in enumerate(values.to_pylist()):
        try:
            parsed.append(_timestamp(value))
        except (ValueError, TypeError):
            problems.flag_row(index, f"unparseable_{name}")
            parsed.append(None)
    return pa.array(parsed, TIMESTAMP)


def _timestamp(value: Any) -> dt.datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise TypeError(f"not a timestamp: {value!r}")
    moment = dt.datetime.fromisoformat(value.strip())
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _booleans(values: pa.Array, name: str, problems: Problems) -> pa.Array:
    if pa.types.is_boolean(values.type) or pa.types.is_null(values.type):
        return values.cast(pa.bool_())
    out: list[bool | None] = []
    for index, value in enumerate(values.to_pylist()):
        text = str(value).strip().lower() if value is not None else ""
        if text in TRUE or text in FALSE or not text:
            out.append(text in TRUE if text else None)
        else:
            problems.flag_row(index, f"unparseable_{name}")
            out.append(None)
    return pa.array(out, pa.bool_())


def _json(values: pa.Array, name: str, problems: Problems) -> pa.Array:
    """JSON text holding only the keys that are set; a Parquet struct gives every row every
    field any row had, as nulls, which this leaves out."""
    items = values.to_pylist()
    if pa.types.is_map(values.type):  # [(key, value), ...] -> an object
        items = [None if v is None else {str(k): x for k, x in v} for v in items]
    texts: list[str | None] = []
    seen: dict[str, str | None] = {}  # dumps repeat the same properties text often
    for index, value in enumerate(items):
        if isinstance(value, str) and value in seen:
            texts.append(seen[value])
            continue
        try:
            text = json_text(value)
        except ValueError:
            problems.flag_row(index, f"{name}_not_json")
            text = None
        else:
            if isinstance(value, str):
                seen[value] = text
        texts.append(text)
    return pa.array(texts, pa.string())


def conform(batch: Batch, table: str) -> tuple[pa.Table, list[tuple[int, str, bytes]]]:
    """The batch's loadable rows, typed as the app's Postgres types them, and the
    (position, reason, raw text) of each row set aside."""
    part = _normalised_names(batch.table)
    problems = Problems(len(part), batch.problems)
    columns = {n: _plain(part.column(n).combine_chunks()) for n in part.column_names}
    for name in KEYS[table]:
        if name not in columns:
            raise UnreadableFile(f"no {name} column (columns: {', '.join(part.column_names)})")
        columns[name] = _ids(columns[name], table, name, problems)
    for name in TIMESTAMPS[table]:
        if name in columns:
            columns[name] = _timestamps(columns[name], name, problems)
    for name in BOOLEANS[table]:
        if name in columns:
            columns[name] = _booleans(columns[name], name, problems)
    for name in JSON_COLUMNS[table]:
        if name in columns:
            columns[name] = _json(columns[name], name, problems)
    for name in VALUES[table]:
        problems.flag(_missing_values(columns.get(name), len(part)), f"missing_{name}")
    rejected = [
        (batch.positions[i], reason,
         batch.lines[i] if batch.lines is not None
         else orjson.dumps(part.slice(i, 1).to_pylist()[0], default=str))
        for i, reason in enumerate(problems.reasons) if reason
    ]
    keep = pa.array([reason is None for reason in problems.reasons], pa.bool_())
    return pa.table(columns).filter(keep), rejected


# -- the resource ------------------------------------------------------------------------------
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


def _contents(file: FileItemDict) -> bytes:
    with file.open(compression="disable") as handle:
        data = handle.read()
    return gzip.decompress(data) if file["file_name"].endswith(".gz") else data


def _batches(file: FileItemDict, table: str, form: str, rejects: Rejects) -> Iterator[Batch]:
    data = _contents(file)
    if form == "csv":
        return _csv_batches(data, table)
    if form == "jsonl":
        return _json_batches(data, table, rejects)
    return _parquet_batches(data)


def read_dump(file: FileItemDict, table: str, form: str) -> Iterator[Any]:
    """Arrow tables of one dump file, plus its rejected rows; returns whether the whole
    file was read (a file that could not be is read again next run)."""
    rejects = Rejects(SOURCE, file["file_url"])
    complete = True
    try:
        for batch in _batches(file, table, form, rejects):
            rows, rejected = conform(batch, table)
            for position, reason, raw in rejected:
                rejects.add(position, reason, raw)
            if len(rows):
                yield dlt.mark.with_hints(rows, _hints(table), create_table_variant=True)
    except READ_ERRORS as error:
        complete = False
        rejects.add(0, "unreadable_file", f"{type(error).__name__}: {error}")
    if rejects:
        yield rejects.table_item()
    return complete


@dlt.transformer(name="app_tables", write_disposition="merge")
def dump_rows(files: list[FileItemDict]) -> Iterator[Any]:
    seen: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
    for file in sorted(files, key=lambda f: f["relative_path"]):
        dump = dump_of(file["file_name"])
        if dump is None:
            continue
        fingerprint = f"{file['size_in_bytes']}:{file['modification_date']}"
        if seen.get(file["relative_path"]) == fingerprint:
            continue
        if (yield from read_dump(file, *dump)):
            seen[file["relative_path"]] = fingerprint


@dlt.source(name=SOURCE, max_table_nesting=0)
def app_files(bucket_url: str = dlt.config.value, file_glob: str = "**/*") -> Any:
    """Dumps (CSV, JSON lines, Parquet) of the app's `users` and `events` tables under
    `bucket_url` (a folder or fsspec URL)."""
    return filesystem(bucket_url=bucket_url, file_glob=file_glob) | dump_rows
