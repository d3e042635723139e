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
  not JSON, a CSV row with bytes that are not UTF-8 (`not_utf8`), or a line that is not
  a JSON object. A CSV column without a name and without values (a header's trailing
  comma) is left out.
- **Merged on `id`**: the latest dump of a row wins (users by `updated_at`), so loading
  the same or an overlapping dump again adds nothing. A file already loaded (same size
  and modification time) is skipped.
- **Columns by name**, in any order. Columns other than the app's (a customer's
  `team_id`, `deleted_at`) load too: as typed in JSON lines and Parquet (objects and
  lists as JSON, each value with its own keys); from a CSV's text as integers, numbers,
  booleans, dates or times when every value (in each 64 MB block) reads as one, else as
  text. A column keeps the type it first loaded with; a
  later value that does not read as that type is kept as text in `<column>__v_text`
  (dlt's name for a variant), so a change of type never stops a load. The app's text
  columns (`email`, `plan`, `name`, `session_id`) are text whatever a file wrote. An
  absent optional column is absent (staging reads it as null).
- **A file without a required column** (`id`; events also `user_id`, `name`,
  `created_at`) is one reject (`missing_column_<column>`, position 0, its text naming
  the file and the column): none of its rows load. A JSON-lines file lacks a column
  when none of its lines has the key; a line without it is that row's problem.
- **A file that cannot be read** (not Parquet, a gzip cut short) is one reject naming
  the file (`unreadable_file`, position 0, the error as its text).
- Either way the rest of the run loads. The file is read again when it changes; while
  it stays as it was, every run names it again without setting it aside again (the
  raw tables stay as they are). The resource state lists the files this
  run could not read (`unreadable_files`): `journeys ingest` names each and why, and
  exits 1.
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
APP_COLUMNS = {table: {*KEYS[table], *TIMESTAMPS[table], *BOOLEANS[table],
                       *JSON_COLUMNS[table], *TEXTS[table]} for table in KEYS}
JSON_TYPE = pa.json_(pa.string())  # Arrow's JSON: text holding JSON values
# the columns a file cannot be loaded without: a file lacking one is set aside whole
REQUIRED = {table: (*KEYS[table], *VALUES[table]) for table in KEYS}
TRUE, FALSE = ("true", "t", "1"), ("false", "f", "0")
TIMESTAMP = pa.timestamp("us")  # naive, holding UTC, as the app's Postgres stores it
# other columns (a customer's `deleted_at`, `team_id`): the types they load as, by dlt type
# (json: objects and lists as JSON text, loaded with a json hint)
PLAIN_TYPES = {"bigint": pa.int64(), "double": pa.float64(), "bool": pa.bool_(),
               "timestamp": TIMESTAMP, "date": pa.date32(), "text": pa.string(),
               "json": pa.string()}
VARIANT = "{}__v_text"  # dlt's name for a column's values of another type, as text
INTEGER_TEXT = r"^-?(0|[1-9][0-9]{0,18})$"  # an integer as Postgres writes one
DIGITS = r"^-?[0-9]+$"  # digits; unless an INTEGER_TEXT ("02134", 20 digits) not a double
INT64_DIGITS = 19
BATCH_ROWS = 50_000
BLOCK_BYTES = 64 << 20
# anything reading or typing one file raises (pyarrow's KeyError "Field ... does not exist
# in schema" included): that file is set aside, the run goes on
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, IndexError,
               ArithmeticError, zlib.error, pa.ArrowException)
NAMING = NamingConvention()


class UnreadableFile(ValueError):
    """The file as a whole cannot be loaded (e.g. two columns with the same name)."""


class MissingColumns(UnreadableFile):
    """The file lacks a column every row of its table needs (`REQUIRED`)."""

    def __init__(self, table: str, missing: Sequence[str], columns: Sequence[str]):
        self.reason = f"missing_column_{missing[0]}"
        names = (f"{missing[0]} column" if len(missing) == 1
                 else f"{', '.join(missing[:-1])} and {missing[-1]} columns")
        super().__init__(
            f"no {names}, which every {table} row needs (its columns: "
            f"{', '.join(columns) or 'none'}); none of its rows were loaded. Export {table} "
            f"with its {names} and run `journeys ingest` again.")


def raw_name(name: str) -> str | None:
    """A file's column name as the raw column's (dlt's snake_case), None when blank."""
    return NAMING.normalize_identifier(name) if name.strip() else None


def require_columns(table: str, names: Sequence[str]) -> None:
    """Raises MissingColumns when a file's columns (raw names) lack a required one."""
    normalised = {raw_name(n) for n in names}
    missing = [name for name in REQUIRED[table] if name not in normalised]
    if missing:
        raise MissingColumns(table, missing, names)


@dataclass
class Batch:
    """Rows read from a file, their positions in it (row or line numbers), and problems
    found while reading (row index -> reason)."""

    table: pa.Table
    positions: Sequence[int]
    problems: dict[int, str] = field(default_factory=dict)
    lines: list[bytes] | None = None  # JSON lines: each row's text, kept for its reject
    from_text: bool = False  # CSV: every value is text, its type still to be read


def dump_of(file_name: str) -> tuple[str, str] | None:
    """(table, format) of a dump file, or None for any other file."""
    for ending, form in FORMATS.items():
        if file_name.endswith(ending):
            table = re.split(r"[-_.]", file_name[: -len(ending)], maxsplit=1)[0]
            return (table, form) if table in KEYS else None
    return None


# -- reading each format ----------------------------------------------------------------------
def _csv_batches(data: bytes, table: str) -> Iterator[Batch]:
    """CSV as Postgres COPY writes it, every column read as text: the app's columns are
    typed by `conform` (a bad value there is one row's problem, not the file's), the
    others by `_other_column`. Columns are found by their header's names, in any order.
    A row holding bytes that are not UTF-8 is set aside (`not_utf8`)."""
    first_line = data.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    header = next(csv.reader([first_line]), [])
    require_columns(table, header)
    reader = pacsv.open_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.binary() for n in header},  # decoded by `_utf8`
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    position = 0
    for record_batch in reader:
        problems: dict[int, str] = {}
        part = _utf8(pa.Table.from_batches([record_batch]), problems)
        yield Batch(part, range(position + 1, position + 1 + len(part)), problems,
                    from_text=True)
        position += len(part)


def _utf8(part: pa.Table, problems: dict[int, str]) -> pa.Table:
    """CSV fields read as bytes, as text. A row with a field that is not UTF-8 gets the
    problem `not_utf8` (its reject shows the field with U+FFFD for the bad bytes)."""
    columns = []
    for values in part.columns:
        values = values.combine_chunks()
        try:
            columns.append(values.cast(pa.string()))
            continue
        except pa.ArrowInvalid:
            pass
        texts: list[str | None] = []
        for index, value in enumerate(values.to_pylist()):
            try:
                texts.append(None if value is None else value.decode())
            except UnicodeDecodeError:
                problems.setdefault(index, "not_utf8")
                texts.append(value.decode(errors="replace"))
        columns.append(pa.array(texts, pa.string()))
    return pa.Table.from_arrays(columns, names=part.column_names)


def _json_batches(data: bytes, table: str, rejects: Rejects) -> Iterator[Batch]:
    """JSON lines; a line that is not a JSON object is rejected on its own. A line
    without a required key is one row's problem, a file none of whose lines has it the
    file's (checked before its first batch is loaded)."""
    every_line = data.splitlines()
    rows: list[dict] = []
    positions: list[int] = []
    lines: list[bytes] = []
    checked = False
    for number, line in enumerate(every_line, start=1):
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
            checked = checked or _require_json_keys(table, rows, every_line[number:])
            yield _json_batch(rows, positions, lines, table)
            rows, positions, lines = [], [], []
    if rows:
        checked = checked or _require_json_keys(table, rows, [])
        yield _json_batch(rows, positions, lines, table)


def _require_json_keys(table: str, rows: list[dict], rest: list[bytes]) -> bool:
    """Raises MissingColumns when a required key is in none of `rows` nor of the lines
    after them (read only when the first rows lack one)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    names = {raw_name(key) for key in keys}
    wanted = {name for name in REQUIRED[table] if name not in names}
    for line in rest:
        if not wanted:
            break
        try:
            record = parse_json(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            wanted -= {raw_name(key) for key in record}
    if wanted:
        raise MissingColumns(table, [n for n in REQUIRED[table] if n in wanted], keys)
    return True


def _json_batch(rows: list[dict], positions: list[int], lines: list[bytes], table: str
                ) -> Batch:
    names = list(dict.fromkeys(name for row in rows for name in row))
    arrays: list[pa.Array] = []
    problems: dict[int, str] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if raw_name(name) in KEYS[table]:
            arrays.append(_json_ids(values, raw_name(name), problems))
        elif raw_name(name) not in APP_COLUMNS[table] and _holds_json(values):
            arrays.append(_json_array(values))
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


def _holds_json(values: list[Any]) -> bool:
    """Whether a customer's column holds an object or a list: then it is a JSON column."""
    return any(isinstance(v, dict | list) for v in values)


def _json_array(values: list[Any]) -> pa.Array:
    """Each value as its own JSON text (an object keeps its own keys), typed as JSON."""
    texts = pa.array([None if v is None else _dumped(v) for v in values], pa.string())
    return pa.ExtensionArray.from_storage(JSON_TYPE, texts)


def _dumped(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, ensure_ascii=False)


def _parquet_batches(data: bytes, table: str) -> Iterator[Batch]:
    parquet = pq.ParquetFile(io.BytesIO(data))
    require_columns(table, parquet.schema_arrow.names)
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
    """The batch with its columns named as raw columns. A column without a name (a CSV
    header's trailing comma) is left out when it holds nothing."""
    for index in reversed(range(part.num_columns)):
        if raw_name(part.column_names[index]) is None:
            if part.column(index).null_count < len(part):
                raise UnreadableFile(f"column {index + 1} has values but no name; name it "
                                     "in the file's header")
            part = part.remove_column(index)
    names = [raw_name(n) for n in part.column_names]
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


def _known_type(table: str, name: str) -> str | None:
    """The raw column's dlt type when an earlier load (or an earlier file of this run)
    fixed it: "bigint", "text", ..."""
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
    kind = _known_type(table, name)
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


# -- the other columns: text columns and a customer's own -------------------------------------
def _as_text(values: pa.Array) -> pa.Array:
    """Any column as text: numbers and times as Arrow writes them, objects and lists as
    JSON, bytes as UTF-8 (or Postgres' `\\x` hex when they are not)."""
    kind = values.type
    if pa.types.is_dictionary(kind):
        return _as_text(values.dictionary_decode())
    if pa.types.is_string(kind):
        return values
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) \
            or pa.types.is_fixed_size_binary(kind):
        return pa.array([None if v is None else _bytes_text(v) for v in values.to_pylist()],
                        pa.string())
    if pa.types.is_nested(kind):
        return pa.array([None if v is None else _dumped(v) for v in values.to_pylist()],
                        pa.string())
    try:  # numbers, booleans, times, large strings
        return values.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in values.to_pylist()],
                        pa.string())


def _bytes_text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return "\\x" + value.hex()


def _typed(values: pa.Array) -> tuple[pa.Array, str | None]:
    """A typed column (JSON lines, Parquet) as one of PLAIN_TYPES, and its dlt type
    (None when it holds only nulls: its type is still open)."""
    kind = values.type
    if pa.types.is_dictionary(kind):
        return _typed(values.dictionary_decode())
    if pa.types.is_null(kind):
        return values, None
    if pa.types.is_integer(kind):
        if pa.types.is_uint64(kind) and (pc.max(values).as_py() or 0) >= 2**63:
            return _as_text(values), "text"
        return values.cast(pa.int64()), "bigint"
    if pa.types.is_floating(kind):
        return values.cast(pa.float64()), "double"
    if pa.types.is_boolean(kind):
        return values, "bool"
    if pa.types.is_timestamp(kind):
        if kind.tz:
            values = values.cast(pa.timestamp(kind.unit, "UTC"))
        return pc.cast(values, TIMESTAMP, safe=False), "timestamp"
    if pa.types.is_date(kind):
        return values.cast(pa.date32()), "date"
    return _as_text(values), "text"


def _is_json(kind: pa.DataType) -> bool:
    """Objects and lists (a Parquet struct, list or map; Arrow's or Parquet's JSON type)."""
    return pa.types.is_nested(kind) or (isinstance(kind, pa.BaseExtensionType)
                                        and kind.extension_name == "arrow.json")


def _as_json(values: pa.Array) -> pa.Array:
    """Any column as JSON text: text as a JSON string, numbers as JSON numbers, ..."""
    return pa.array([None if v is None else _dumped(v) for v in values.to_pylist()],
                    pa.string())


def _guessed(texts: pa.Array) -> tuple[pa.Array, str | None]:
    """A CSV column's text read as what every value in it is: integers, numbers (unless
    digits would be lost: `02134`, 20 digits), booleans (`t`/`f` as COPY writes them),
    dates, times, else text (None when it holds only nulls: its type is still open)."""
    if texts.null_count == len(texts):
        return pa.nulls(len(texts)), None
    if _all_read_as(texts, "bigint"):
        return _converted(texts, "bigint"), "bigint"
    lossy = pc.and_(pc.match_substring_regex(texts, DIGITS),
                    pc.invert(pc.match_substring_regex(texts, INTEGER_TEXT)))
    kinds = ("double", "bool", "date", "timestamp")
    for kind in kinds[1:] if pc.any(lossy).as_py() else kinds:
        if _all_read_as(texts, kind):
            return _converted(texts, kind), kind
    return texts, "text"


def _all_read_as(texts: pa.Array, kind: str) -> bool:
    """Whether every text reads as `kind`, stopping at the first that does not."""
    if kind in ("bigint", "bool"):
        return pc.all(_fits(texts, kind)).as_py()
    try:  # all at once, the usual case
        pc.cast(texts, PLAIN_TYPES[kind])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return all(_reads_as(v, kind) for v in texts.to_pylist())
    return True


def _parsed(texts: pa.Array, kind: str) -> tuple[pa.Array, pa.Array | None]:
    """Text read as `kind` (one of PLAIN_TYPES), and the texts that do not read as it
    (None when all do)."""
    if kind == "text":
        return texts, None
    fits = _fits(texts, kind)
    if pc.all(fits).as_py():
        return _converted(texts, kind), None
    nothing = pa.scalar(None, pa.string())
    return (_converted(pc.if_else(fits, texts, nothing), kind),
            pc.if_else(fits, nothing, texts))


def _fits(texts: pa.Array, kind: str) -> pa.Array:
    """Which texts read as `kind` (a null does)."""
    if kind == "bigint":
        flags = pa.array(_integer_texts(texts), pa.bool_())
    elif kind == "bool":
        flags = pc.is_in(pc.utf8_lower(texts), pa.array([*TRUE, *FALSE]))
    elif kind == "json":
        flags = pa.array([_reads_as(v, kind) for v in texts.to_pylist()], pa.bool_())
    else:
        try:  # all at once, the usual case
            pc.cast(texts, PLAIN_TYPES[kind])
            flags = pa.array([True] * len(texts))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            flags = pa.array([_reads_as(v, kind) for v in texts.to_pylist()], pa.bool_())
    return pc.or_(pc.fill_null(flags, False), texts.is_null())


def _parse(text: str, kind: str) -> Any:
    """One text as a double, date, JSON or timestamp (with an offset: as UTC)."""
    if kind == "double":
        return float(text)
    if kind == "date":
        return dt.date.fromisoformat(text.strip())
    if kind == "json":
        return parse_json(text)
    return _timestamp(text)


def _reads_as(text: str | None, kind: str) -> bool:
    if text is None:
        return True
    try:
        _parse(text, kind)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _converted(texts: pa.Array, kind: str) -> pa.Array:
    """Texts every one of which reads as `kind`, as `kind`."""
    if kind == "bigint":
        return texts.cast(pa.int64())
    if kind == "bool":
        return pa.array([None if v is None else v.lower() in TRUE for v in texts.to_pylist()],
                        pa.bool_())
    if kind == "json":
        return texts
    try:
        return pc.cast(texts, PLAIN_TYPES[kind])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else _parse(v, kind) for v in texts.to_pylist()],
                        PLAIN_TYPES[kind])


def _other_column(table: str, name: str, values: pa.Array, from_text: bool,
                  holds_json: bool = False) -> dict[str, pa.Array]:
    """A column that is not one of the app's ids, times, booleans or JSON: a text column
    of the app's (`email`, `session_id`, ...) or one of the customer's own (`deleted_at`,
    `team_id`). It keeps the type its table already has (from an earlier load or an
    earlier file); values that do not read as that type go, as text, to
    `<name>__v_text` (dlt's name for such a variant), so no type stops a load. Objects
    and lists (`holds_json`) are JSON."""
    known = _known_type(table, name)
    if name in TEXTS[table] or (from_text and known is not None):
        values, kind = _as_text(values), "text"
    elif holds_json:
        values, kind = _as_text(values), "json"
    elif from_text:
        values, kind = _guessed(values)
    else:
        values, kind = _typed(values)
    if kind is None or known is None or known == kind:
        return {name: values}
    if known == "double" and kind == "bigint":
        return {name: values.cast(pa.float64())}
    if known == "json" and not from_text:  # any typed value is a JSON value
        return {name: _as_json(values)}
    if known not in PLAIN_TYPES:  # a type no dump gives (decimal, ...): all of it as text
        return {VARIANT.format(name): _as_text(values)}
    typed, leftover = _parsed(_as_text(values), known)
    return {name: typed} if leftover is None else {name: typed, VARIANT.format(name): leftover}


def conform(batch: Batch, table: str
            ) -> tuple[pa.Table, list[tuple[int, str, bytes]], list[str]]:
    """The batch's loadable rows, typed as the app's Postgres types them, the (position,
    reason, raw text) of each row set aside, and the other columns that hold JSON text
    (to be loaded as JSON). Columns are found by name."""
    part = _normalised_names(batch.table)
    problems = Problems(len(part), batch.problems)
    holds_json = {n for n in part.column_names if _is_json(part.schema.field(n).type)}
    columns = {n: _plain(part.column(n).combine_chunks()) for n in part.column_names}
    for name in KEYS[table]:
        if name in columns:
            columns[name] = _ids(columns[name], table, name, problems)
        else:  # JSON lines: none of this batch's lines has it (a later line does)
            problems.flag([True] * len(part), f"missing_{name}")
    for name in TIMESTAMPS[table]:
        if name in columns:
            columns[name] = _timestamps(columns[name], name, problems)
    for name in BOOLEANS[table]:
        if name in columns:
            columns[name] = _booleans(columns[name], name, problems)
    for name in JSON_COLUMNS[table]:
        if name in columns:
            columns[name] = _json(columns[name], name, problems)
    typed: dict[str, pa.Array] = {}
    json_columns: list[str] = []
    for name, values in columns.items():
        if name in (*KEYS[table], *TIMESTAMPS[table], *BOOLEANS[table], *JSON_COLUMNS[table]):
            typed[name] = values
            continue
        known = _known_type(table, name)
        typed.update(_other_column(table, name, values, batch.from_text, name in holds_json))
        if known == "json" or (known is None and name in holds_json):
            json_columns.append(name)
    for name in VALUES[table]:
        problems.flag(_missing_values(typed.get(name), len(part)), f"missing_{name}")
    rejected = [
        (batch.positions[i], reason,
         batch.lines[i] if batch.lines is not None
         else orjson.dumps(part.slice(i, 1).to_pylist()[0], default=str))
        for i, reason in enumerate(problems.reasons) if reason
    ]
    keep = pa.array([reason is None for reason in problems.reasons], pa.bool_())
    return pa.table(typed).filter(keep), rejected, json_columns


# -- the resource ------------------------------------------------------------------------------
def _hints(table: str, json_columns: Sequence[str] = ()):
    # events: properties stay JSON; users: when a dump holds two versions of a row, the
    # one updated last wins; other columns holding objects or lists: JSON
    columns = (
        [{"name": "properties", "data_type": "json"}]
        if table == "events"
        else [{"name": "updated_at", "data_type": "timestamp", "dedup_sort": "desc"}]
    )
    columns += [{"name": name, "data_type": "json"} for name in json_columns]
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
    return _parquet_batches(data, table)


def read_dump(file: FileItemDict, table: str, form: str) -> Iterator[Any]:
    """Arrow tables of one dump file, plus its rejected rows. Returns None when the whole
    file was read, else why it could not be (such a file is read again next run)."""
    rejects = Rejects(SOURCE, file["file_url"])
    failure = None
    try:
        for batch in _batches(file, table, form, rejects):
            rows, rejected, json_columns = conform(batch, table)
            for position, reason, raw in rejected:
                rejects.add(position, reason, raw)
            if len(rows):
                yield dlt.mark.with_hints(rows, _hints(table, json_columns),
                                          create_table_variant=True)
    except MissingColumns as error:  # found before any row: the file is one reject
        failure = f"{error.reason}: {error}"
        rejects.rows.clear()
        rejects.add(0, error.reason, f"{file['relative_path']}: {error}")
    except READ_ERRORS as error:
        text = f"{type(error).__name__}: {error or 'no message'}"
        failure = f"unreadable_file: {text}"
        rejects.add(0, "unreadable_file", text)
    if rejects:
        yield rejects.table_item()
    return failure


@dataclass
class Run:
    """One run of the source (each run makes its own)."""

    started: bool = False


@dlt.transformer(name="app_tables", write_disposition="merge")
def dump_rows(files: list[FileItemDict], run: Run) -> Iterator[Any]:
    """Each dump file not loaded before. The resource state keeps the files loaded
    (`files`: path -> size and time) and the files this run could not read
    (`unreadable_files`: location -> why), which `journeys ingest` reports."""
    state = dlt.current.resource_state()
    if not run.started:  # the first page of files this run
        state["unreadable_files"] = {}
        run.started = True
    seen: dict[str, str] = state.setdefault("files", {})
    # files found unreadable, as they were then (path -> [size and time, why]): the same
    # file unchanged is named again but not set aside again
    failed: dict[str, list[str]] = state.setdefault("failed_files", {})
    for file in sorted(files, key=lambda f: f["relative_path"]):
        dump = dump_of(file["file_name"])
        if dump is None:
            continue
        path = file["relative_path"]
        fingerprint = f"{file['size_in_bytes']}:{file['modification_date']}"
        if seen.get(path) == fingerprint:
            continue
        if path in failed and failed[path][0] == fingerprint:
            state["unreadable_files"][file["file_url"]] = failed[path][1]
            continue
        failure = yield from read_dump(file, *dump)
        if failure is None:
            seen[path] = fingerprint
            failed.pop(path, None)
        else:
            failed[path] = [fingerprint, failure]
            state["unreadable_files"][file["file_url"]] = failure


@dlt.source(name=SOURCE, max_table_nesting=0)
def app_files(bucket_url: str = dlt.config.value, file_glob: str = "**/*") -> Any:
    """Dumps (CSV, JSON lines, Parquet) of the app's `users` and `events` tables under
    `bucket_url` (a folder or fsspec URL)."""
    return filesystem(bucket_url=bucket_url, file_glob=file_glob) | dump_rows(Run())
