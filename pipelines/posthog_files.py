"""PostHog batch-export files (S3 destination, events model) → `raw_posthog.events`.

Any folder dlt's filesystem source can list (a local path or an fsspec URL such as
`s3://bucket/prefix`). Files are told apart by the end of their name, in any case:
- **JSON lines**: `.jsonl`, `.ndjson` or `.json`, each also `.gz` (gzip) or `.br` (brotli,
  what PostHog's S3 exports write besides gzip). A UTF-8 byte order mark
  at the start is skipped; a line ends in `\n` or `\r\n`. A `.json` file that parses as
  one JSON document gives its rows: an array's elements (position = the element's
  number), or one object written over several lines.
- **Parquet**: `.parquet`, also `.parquet.zst` etc. (compressed inside the file with zstd,
  snappy, gzip, brotli or lz4; read as is, a row group at a time). PostHog writes
  `properties` and `person_properties` as JSON text in a string column: that text is the
  JSON. The same rows land whatever the form (tests/test_export_formats.py).
- `*_manifest.json`, which PostHog writes after each export window's files, is not data
  and is passed over. Any other file is skipped and named, every run, in the resource
  state's `skipped` list (the ingest summary prints it).

- **Incremental by file**: a file whose (size, modification time) was read before is
  skipped; a new or rewritten file is read. Kept in dlt's resource state, which commits
  with the load, so a failed run re-reads its files next time.
- **Merge on `uuid`**, latest `_inserted_at` winning (`delete-insert` + `dedup_sort`):
  PostHog documents duplicate rows across retries and backfills (SOURCES.md 1.1).
- **Row by row rules, batch speed**: a malformed line, a row without `uuid`, `event`,
  `distinct_id` or a parseable `timestamp`, or a timestamp more than a day after the row
  reached PostHog, goes to `_rejected_records` with its reason, file and line; the rest
  loads. `validate` holds the rules. JSON lines are read BATCH_BYTES at a time (memory is
  bounded by the batch, not the file) and DuckDB settles the rows it can prove good in
  one query per batch (pipelines/event_batches.py); only the others go through
  `validate` one by one.
- **A file cut short or damaged** never stops the run; the rows before the damage load
  and the damage is one reject naming the file, its size and modification time:
  - `truncated_file` at the line the cut falls in: a `.gz` that ends before gzip's
    end-of-stream marker (an upload cut short), the incomplete line as its text;
  - `unreadable_file` at position 0: nothing of it decodes (named `.gz` but not gzip, not
    Parquet);
  - `corrupt_file` at the row where decoding stopped (a gzip checksum that does not match,
    a broken Parquet row group).
  Such a file is not read again until it changes (a complete copy under the same name
  is read, its rows merge on `uuid`; the reject of the cut copy stays, naming that copy's
  size). A file that storage could not give (OSError) is `unreadable_file` too, and is
  read again next run.
- **Columns.** The contract's columns (`EVENT_SCHEMA`) keep their types: a text column
  takes an integer as its decimal text (`5` → `'5'`); any other non-text value there (an
  object or a list, a boolean, a fraction) sets the row aside as `<column>_wrong_type`
  (JSON text would not be `elements_chain`'s format, nor an id). `properties`,
  `person_properties` (and `set` / `set_once` where a destination model exports them)
  are JSON columns. Every other column loads as text (JSON text for numbers, booleans,
  objects and lists), so an extra column whose type differs between files or runs never
  stops a load. (An extra column this reader typed before issue 21, e.g. `team_id` as
  bigint, keeps its type; a value that does not fit goes beside it as text,
  `team_id__v_text`.)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.sources.filesystem import FileItemDict, filesystem

from pipelines.event_batches import FUTURE_TOLERANCE, TIMESTAMPS, BatchValidator, split_lines
from pipelines.quarantine import UNREADABLE_FILE, Rejects

SOURCE = "posthog_files"
REQUIRED = ("uuid", "event", "distinct_id", "timestamp")
JSON_COLUMNS = ("properties", "person_properties", "set", "set_once")
TEXT_COLUMNS = ("uuid", "event", "distinct_id", "elements_chain", "person_id")
BATCH_ROWS = 50_000
BATCH_BYTES = 16 << 20  # JSON lines settled together (pipelines.event_batches)
READ_BYTES = 8 << 20  # a file is read (and a .gz inflated) this much at a time
GZIP_READ_BYTES = 64 << 10  # a .gz / .br is read in small steps: damage loses one step's lines
GZIP = 16 + zlib.MAX_WBITS  # zlib's window bits for a gzip stream
BOM = b"\xef\xbb\xbf"
ONE_PAGE = 1 << 40  # every file listed in one page: one call sees the whole folder
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
CONTRACT = frozenset(EVENT_SCHEMA.names)
EVENT_HINTS = dlt.mark.make_hints(
    table_name="events",
    primary_key="uuid",
    write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    columns=[
        *({"name": c, "data_type": "json"} for c in JSON_COLUMNS),
        {"name": "_inserted_at", "data_type": "timestamp", "dedup_sort": "desc"},
    ],
)
JSON_ENDINGS = tuple(f"{kind}{zipped}" for kind in (".jsonl", ".ndjson", ".json")
                     for zipped in ("", ".gz", ".br"))
DOCUMENT_ENDINGS = (".json", ".json.gz", ".json.br")  # may hold one JSON document instead of lines
PARQUET_ENDINGS = (
    ".parquet",
    ".parquet.zst",
    ".parquet.lz4",
    ".parquet.snappy",
    ".parquet.sz",  # snappy, as PostHog names it
    ".parquet.gz",
    ".parquet.br",
)
MANIFEST_ENDING = "_manifest.json"
LEGACY_TYPES = {  # dlt's data type of an extra column typed by an earlier load -> Arrow's
    "bigint": pa.int64(), "double": pa.float64(), "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(),
}


def export_format(name: str) -> str | None:
    """"json" (JSON lines or one JSON document) or "parquet" for an export file's name,
    in any case; None for any other file, a manifest included."""
    lower = name.lower()
    if lower.endswith(MANIFEST_ENDING):
        return None
    if lower.endswith(PARQUET_ENDINGS):
        return "parquet"
    if lower.endswith(JSON_ENDINGS):
        return "json"
    return None


def is_manifest(name: str) -> bool:
    """PostHog's `{start}-{end}_manifest.json`: the list of a window's files, not data."""
    return name.lower().endswith(MANIFEST_ENDING)


# -- rows ------------------------------------------------------------------------------------
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


def as_text(value: Any) -> str | None:
    """A value for a text column, when nothing is lost: text, an integer as its decimal
    text (5 -> '5'), a UUID (Parquet's UUID type) as its usual text; None for anything
    else (an object, a list, a boolean, a fraction)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return None


def extra_text(value: Any) -> str | None:
    """A column the contract does not know, as text: text as it is, a time in ISO form,
    anything else as JSON text (2 -> '2', true -> 'true', {"a": 1} -> '{"a":1}')."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, default=str)


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
    for name in TEXT_COLUMNS:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            row[name] = as_text(value)
            if row[name] is None:
                return None, f"{name}_wrong_type"
    return row, None


# -- reading a file --------------------------------------------------------------------------
class BrokenFile(Exception):
    """A file stops being readable at `position` (a line or row number; 0: nothing of it
    could be read). The rows before it load; this is the file's one reject."""

    def __init__(self, reason: str, detail: str, position: int | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.position = position  # None: the line the byte stream had reached
        self.tail = b""  # the incomplete line the stream stopped in

    def stopped_at(self, line: int, tail: bytes) -> None:
        if self.position is None:
            self.position, self.tail = line, tail


def _plain(handle: io.IOBase, size: int = READ_BYTES) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


def _gunzipped(handle: io.IOBase) -> Iterator[bytes]:
    """A gzip file's contents, a piece at a time, members one after another (as gzip
    reads them, zero padding after the last allowed). Raises BrokenFile where the stream
    is cut short or damaged, after every byte before that point was given."""
    inflate = zlib.decompressobj(GZIP)
    started = False  # any byte inflated yet
    for data in _plain(handle, GZIP_READ_BYTES):
        while True:
            if inflate.eof:  # the member ended: another follows, or padding
                data = data.lstrip(b"\0")
                if not data:
                    break
                inflate = zlib.decompressobj(GZIP)
            try:
                piece = inflate.decompress(data, READ_BYTES)
            except zlib.error as error:
                raise _damaged(error, started) from error
            if piece:
                started = True
                yield piece
            data = inflate.unconsumed_tail or (inflate.unused_data if inflate.eof else b"")
            # on while input is left, or while a full piece may have held output back
            if not data and (inflate.eof or len(piece) < READ_BYTES):
                break
    if not inflate.eof:
        raise BrokenFile("truncated_file", "the file ends before gzip's end-of-stream marker "
                         "(an upload cut short?)")


def _damaged(error: zlib.error, started: bool) -> BrokenFile:
    if not started:  # not gzip at all
        return BrokenFile(UNREADABLE_FILE, f"cannot be read as gzip: zlib.error: {error}",
                          position=0)
    return BrokenFile("corrupt_file", f"the gzip stream is damaged here (zlib.error: {error})")


def _lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a byte stream: lines end in `\n` (a `\r` before it is not
    kept), a UTF-8 byte order mark at the start is not part of line 1, the last line may
    lack its `\n`. A BrokenFile from the stream is told the line it stopped in."""
    number, rest = 0, b""
    try:
        for chunk in chunks:
            pieces = (rest + chunk if rest else chunk).split(b"\n")
            rest = pieces.pop()
            for line in pieces:
                number += 1
                if number == 1 and line.startswith(BOM):
                    line = line[len(BOM):]
                yield number, line[:-1] if line.endswith(b"\r") else line
    except BrokenFile as error:
        error.stopped_at(number + 1, rest.removeprefix(BOM) if number == 0 else rest)
        raise
    if rest:  # the last line, without its `\n`
        last = rest.removeprefix(BOM) if number == 0 else rest
        yield number + 1, last[:-1] if last.endswith(b"\r") else last


def _document(data: bytes) -> list | None:
    """The rows of a file that is one JSON document (an array of rows, or one row over
    several lines); None when it is not one (JSON lines, or damaged)."""
    text = data.removeprefix(BOM)
    if text.lstrip()[:1] not in (b"[", b"{"):
        return None
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, list):
        return document
    return [document] if isinstance(document, dict) else None


def _replay(data: bytes, broken: BrokenFile | None) -> Iterator[bytes]:
    yield data
    if broken is not None:
        raise broken


def _json_records(chunks: Iterator[bytes]) -> Iterator[tuple[int, Any, bytes | None]]:
    """(position, record or its decode error, the line) of a file that may be one JSON
    document: its rows (position = the element's number); else its JSON lines."""
    pieces: list[bytes] = []
    broken = None
    try:
        for piece in chunks:
            pieces.append(piece)
    except BrokenFile as error:
        broken = error
    data = b"".join(pieces)
    rows = _document(data) if broken is None else None
    if rows is not None:
        yield from ((number, row, None) for number, row in enumerate(rows, start=1))
        return
    for number, line in _lines(_replay(data, broken)):
        yield number, decoded(line), line


def decoded(line: bytes) -> Any:
    """A JSON line's record, or the reason it has none (an exception)."""
    if not line.strip():
        return ValueError("blank line")
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return error


def _parquet_batches(handle: io.IOBase) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(position of the first row, rows) of a Parquet file, BATCH_ROWS at a time, read as
    it goes (a row group at a time). Raises BrokenFile where the data is damaged, after
    every batch before it was given."""
    try:
        batches = pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise BrokenFile(UNREADABLE_FILE, f"cannot be read as Parquet: "
                         f"{type(error).__name__}: {error}", position=0) from error
    position = 1
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError, ValueError) as error:
            raise BrokenFile("corrupt_file", f"Parquet data is damaged here: "
                             f"{type(error).__name__}: {error}", position=position) from error
        if batch is None:
            return
        yield position, batch
        position += batch.num_rows


def _line_batches(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, whole lines) of a byte stream, about BATCH_BYTES at a
    time: the same lines as `_lines`, a UTF-8 byte order mark at the start dropped. A
    BrokenFile from the stream comes after every whole line before it was given, told
    the line it stopped in and that line's incomplete text."""
    number, parts, size = 0, [], 0

    def cut(data: bytes) -> tuple[bytes, bytes]:  # (whole lines, the rest)
        end = data.rfind(b"\n") + 1
        return data[:end], data[end:]

    def numbered(block: bytes) -> tuple[int, bytes]:
        nonlocal number
        first = number + 1
        block = block.removeprefix(BOM) if number == 0 else block
        number += block.count(b"\n") + (not block.endswith(b"\n"))
        return first, block

    try:
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= BATCH_BYTES:
                block, rest = cut(b"".join(parts))
                parts, size = [rest], len(rest)
                if block:
                    yield numbered(block)
    except BrokenFile as error:
        block, rest = cut(b"".join(parts))
        if block:
            yield numbered(block)
        error.stopped_at(number + 1, rest.removeprefix(BOM) if number == 0 else rest)
        raise
    if data := b"".join(parts):
        yield numbered(data)


def _is_document(file: FileItemDict, form: str) -> bool:
    """A `.json` file: it may be one JSON document rather than JSON lines, so it is read
    whole and row by row (every other form is read in batches)."""
    return form == "json" and file["file_name"].lower().endswith(DOCUMENT_ENDINGS)


def _chunks(handle: io.IOBase, name: str) -> Iterator[bytes]:
    lower = name.lower()
    if lower.endswith(".gz"):
        return _gunzipped(handle)
    return _unbrotli(handle) if lower.endswith(".br") else _plain(handle)


def _unbrotli(handle: io.IOBase) -> Iterator[bytes]:
    """A brotli file's contents, a piece at a time (pyarrow's streaming codec). Raises
    BrokenFile where the stream is cut short or damaged, after every byte before it."""
    stream = pa.CompressedInputStream(pa.PythonFile(handle, mode="r"), "brotli")
    started = False
    while True:
        try:
            piece = stream.read(GZIP_READ_BYTES)
        except OSError as error:  # pyarrow's decoding errors are OSErrors too
            if not started:
                raise BrokenFile(UNREADABLE_FILE, f"cannot be read as brotli: {error}",
                                 position=0) from error
            reason = "truncated_file" if "Truncated" in str(error) else "corrupt_file"
            raise BrokenFile(reason, f"the brotli stream stops here ({error})") from error
        if not piece:
            return
        started = True
        yield piece


def _records(file: FileItemDict) -> Iterator[tuple[int, Any, bytes | None]]:
    """(position, decoded record or the decode error, raw bytes) for each row of a `.json`
    file, which may be one JSON document (an array of rows) rather than JSON lines."""
    with file.open(compression="disable") as handle:
        yield from _json_records(_chunks(handle, file["file_name"]))


def _to_table(rows: list[dict], location: str) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in EVENT_SCHEMA.names}
    extras = sorted({k for row in rows for k in row} - CONTRACT)
    for row in rows:
        row["_source_file"] = location
        for name, values in columns.items():
            values.append(row.get(name))
    arrays = [pa.array(columns[f.name], type=f.type) for f in EVENT_SCHEMA]
    names = list(EVENT_SCHEMA.names)
    typed, table_name = _typed_extras() if extras else ({}, str)
    for name in extras:
        values = [row.get(name) for row in rows]
        kind = typed.get(table_name(name)) if typed else None
        if kind is None:  # text, so its type never differs between files or runs
            arrays.append(pa.array([extra_text(v) for v in values], pa.string()))
            names.append(name)
            continue
        # typed by an earlier version of this reader: what fits stays, the rest as text
        # beside it (dlt's variant name), never a value the load cannot cast
        fits = [v is None or _fits(v, kind) for v in values]
        if kind in LEGACY_TYPES:
            arrays.append(pa.array([v if ok else None
                                    for v, ok in zip(values, fits, strict=True)],
                                   LEGACY_TYPES[kind]))
            names.append(name)
        if not all(fits):
            arrays.append(pa.array([None if ok else extra_text(v)
                                    for v, ok in zip(values, fits, strict=True)], pa.string()))
            names.append(f"{name}__v_text")
    return pa.Table.from_arrays(arrays, names=names)


def _typed_extras() -> tuple[dict[str, str], Callable[[str], str]]:
    """Extra columns an earlier load gave a type other than text (this reader loaded them
    as they came before issue 21): (their dlt data type by their name in the table, what
    turns a file's column name into the table's)."""
    schema = dlt.current.source_schema()
    columns = schema.tables.get("events", {}).get("columns", {})
    typed = {name: column["data_type"] for name, column in columns.items()
             if name not in CONTRACT and column.get("data_type") not in (None, "text", "json")}
    return typed, schema.naming.normalize_identifier


def _fits(value: Any, kind: str) -> bool:
    """Whether a value loads into a column of dlt's data type `kind` as it is."""
    if isinstance(value, bool):
        return kind == "bool"
    if isinstance(value, int):
        return (kind == "bigint" and -(2**63) <= value < 2**63) or kind == "double"
    if isinstance(value, float):
        return kind == "double"
    if isinstance(value, dt.datetime):
        return kind == "timestamp"
    return isinstance(value, dt.date) and kind == "date"


def _broken_text(file: FileItemDict, error: BrokenFile) -> str:
    """A damaged file's reject text: which copy of the file, what happened, and the
    incomplete line the damage fell in."""
    modified = file["modification_date"]
    copy = f"{file['size_in_bytes']:,} bytes" + (
        f", modified {modified.isoformat(timespec='seconds')}" if modified else "")
    text = f"{file['file_name']} ({copy}): {error.detail}"
    if error.reason == "truncated_file":
        text += f"; the lines before line {error.position} loaded"
    if error.tail:
        text += f"; the incomplete line {error.position} follows:\n" + error.tail.decode(
            "utf-8", errors="replace")
    return text


class _Rows:
    """The good rows of one file on their way to the load, as arrow tables: the rows the
    batch validator settled as they come, the ones `validate` kept BATCH_ROWS at a time."""

    def __init__(self, location: str, rejects: Rejects):
        self.location = location
        self.rejects = rejects
        self.pending: list[dict] = []

    def check(self, position: int, record: Any, raw: bytes | None) -> Iterator[Any]:
        """One row through `validate`: kept, or rejected with its reason."""
        if isinstance(record, Exception):
            self.rejects.add(position, "malformed_json", raw or b"")
            return
        row, reason = validate(record)
        if reason:
            self.rejects.add(
                position, reason, raw if raw is not None else orjson.dumps(record, default=str)
            )
            return
        self.pending.append(row)
        if len(self.pending) >= BATCH_ROWS:
            yield from self.flush()

    def settled(self, rows: pa.Table) -> Iterator[Any]:
        if rows.num_rows:
            at = rows.schema.get_field_index("person_id") + 1
            source = pa.repeat(self.location, rows.num_rows)
            yield _item(rows.add_column(at, "_source_file", source))

    def flush(self) -> Iterator[Any]:
        if self.pending:
            yield _item(_to_table(self.pending, self.location))
            self.pending = []


def _item(table: pa.Table) -> Any:
    return dlt.mark.with_hints(table, EVENT_HINTS, create_table_variant=True)


def line_text(raw: bytes) -> bytes:
    """A line without its `\n` or `\r\n`."""
    raw = raw[:-1] if raw.endswith(b"\n") else raw
    return raw[:-1] if raw.endswith(b"\r") else raw


def _batched(file: FileItemDict, form: str, rows: _Rows,
             validator: BatchValidator) -> Iterator[Any]:
    """A JSON-lines or Parquet file, a batch at a time: the validator settles what it can,
    each other row goes through `validate` (see pipelines.event_batches). A Parquet batch
    is given to the validator as JSON lines (DuckDB's `to_json` of each row), so both
    forms meet the same rules; its unsettled rows go to `validate` as Parquet gave them."""
    with file.open(compression="disable") as handle:
        if form == "parquet":
            for first, batch in _parquet_batches(handle):
                unsettled = yield from _settle(validator.json_lines(batch), rows, validator)
                records = batch.take(pa.array(unsettled, pa.int64())).to_pylist()
                for index, record in zip(unsettled, records, strict=True):
                    yield from rows.check(first + index, record, None)
            return
        for first, block in _line_batches(_chunks(handle, file["file_name"])):
            lines, offsets = split_lines(block)
            for index in (yield from _settle(lines, rows, validator)):
                raw = line_text(block[offsets[index]:offsets[index + 1]])
                yield from rows.check(first + index, decoded(raw), raw)


def _settle(lines: pa.Array, rows: _Rows, validator: BatchValidator) -> Iterator[Any]:
    """Settles a batch, gives its settled rows; returns the indexes of the others."""
    settled = validator.settle(lines)
    if _legacy_extras(settled.rows):  # typed by an older reader: row by row
        settled = validator.none(len(lines))
    yield from rows.settled(settled.rows)
    return settled.unsettled.tolist()


def _legacy_extras(rows: pa.Table) -> bool:
    """Whether an extra column of these rows was typed (not text) by an earlier load."""
    extras = set(rows.column_names) - CONTRACT
    if not extras:
        return False
    typed, table_name = _typed_extras()
    return any(table_name(name) in typed for name in extras)


def read_export_file(file: FileItemDict, form: str, validator: BatchValidator
                     ) -> Iterator[Any]:
    """Rows of one export file (arrow tables) plus its rejected records. Returns False
    when storage could not give the file (it is read again next run), else True."""
    location = file["file_url"]
    rejects = Rejects(SOURCE, location)
    rows = _Rows(location, rejects)
    done = True
    try:
        if _is_document(file, form):
            for position, record, raw in _records(file):
                yield from rows.check(position, record, raw)
        else:
            yield from _batched(file, form, rows, validator)
    except BrokenFile as error:
        rejects.add(error.position, error.reason, _broken_text(file, error))
    except OSError as error:  # storage (a disk, the network) did not give the file
        done = False
        rejects.add_unreadable_file(error, "read again next run")
    yield from rows.flush()
    if rejects:
        yield rejects.table_item()
    return done


def _fingerprint(file: FileItemDict) -> str:
    modified = file["modification_date"]
    return f"{file['size_in_bytes']}:{modified.isoformat() if modified else ''}"


@dlt.transformer(name="events", write_disposition="merge")
def export_rows(files: list[FileItemDict]) -> Iterator[Any]:
    """Reads each export file not read before (by path, size and modification time), in
    name order; names the other files (manifests aside) in the state's `skipped`."""
    state = dlt.current.resource_state()
    seen: dict[str, str] = state.setdefault("files", {})
    skipped: list[str] = []
    validator = BatchValidator(EVENT_SCHEMA)
    try:
        for file in sorted(files, key=lambda f: f["relative_path"]):
            form = export_format(file["file_name"])
            if form is None:
                if not is_manifest(file["file_name"]):
                    skipped.append(file["relative_path"])
                continue
            fingerprint = _fingerprint(file)
            if seen.get(file["relative_path"]) == fingerprint:
                continue
            if (yield from read_export_file(file, form, validator)):
                seen[file["relative_path"]] = fingerprint
    finally:
        validator.close()
    if state.get("skipped", []) != skipped:
        state["skipped"] = skipped


@dlt.source(name=SOURCE, max_table_nesting=0)
def posthog_files(bucket_url: str = dlt.config.value, file_glob: str = "**/*") -> Any:
    """PostHog batch-export files under `bucket_url` (a folder or fsspec URL)."""
    # one page of every file: the transformer sees the whole folder in one call, so the
    # files it skips are this run's list (fsspec lists a bucket whole anyway)
    listing = filesystem(bucket_url=bucket_url, file_glob=file_glob, files_per_page=ONE_PAGE)
    return listing | export_rows
