"""PostHog export rows validated many at a time, in DuckDB, instead of one by one in Python.

`posthog_files.validate` is the rule book: what a good row is, how each column is typed,
and why a bad row is rejected. Run once per row in Python it made the ingest of export
files about four times slower than DuckDB's own `read_json` of the same files. Here a
batch of JSON lines (a few MB of a file, never the whole file) is parsed by DuckDB's JSON
reader in one query that *settles* each row it can prove good, typed exactly as `validate`
types it. Every other row, whatever is unusual about it (bad JSON, a missing or blank
required field, a timestamp in a form the query does not read, a value of the wrong type,
a timestamp in the future), is left unsettled and goes through `validate` itself, which
keeps it or rejects it with its reason. So this path never rejects a row and never
loosens a rule; a test checks that both paths give the same rows.

A batch the query cannot take at all (DuckDB raises, e.g. on an object with a key twice)
is left unsettled whole, so nothing is lost either way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import sys
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# what Python's str.strip() removes: a value of only these is blank (`is_missing`)
_SPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
NOT_BLANK = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACE) + "]"
# the timestamp forms DuckDB's cast and datetime.fromisoformat read the same way; any
# other text is left to fromisoformat (which reads more forms, or rejects the row)
ISO_TIMESTAMP = (
    r"^\d{4}-\d{2}-\d{2}([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
    r"(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?)?$"
)
INTEGER = r"^(0|-?[1-9]\d{0,17})$"  # an integer whose JSON text is its decimal text
REQUIRED_TEXT = ("uuid", "event", "distinct_id")
OPTIONAL_TEXT = ("elements_chain", "person_id")
TIMESTAMPS = ("timestamp", "_inserted_at", "created_at")
JSON_COLUMNS = ("properties", "person_properties")
JSON_EXTRAS = ("set", "set_once")  # JSON columns outside the contract (`validate` types them)
CONTRACT = (*REQUIRED_TEXT, *OPTIONAL_TEXT, *TIMESTAMPS, *JSON_COLUMNS)
NOT_EXTRA = (*CONTRACT, "_source_file")  # `_source_file` is the reader's, never the file's


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_string(v: str) -> str:
    """Whether JSON text `v` is a string (null is no value: `v` is null)."""
    return f"starts_with({v}::varchar, '\"')"


# each check is a CASE, so what follows a decided case is not computed: DuckDB may compute
# both sides of an OR (e.g. `->> '$'` of a large object, which writes it out again)
def _text(v: str, required: bool) -> tuple[str, str]:
    """(value, settled?) for a text column's JSON value `v`: a string as it is (not blank,
    when required), an integer as its decimal text; null or absent is no value."""
    value = f"case when {_is_string(v)} then ({v} ->> '$') else {v}::varchar end"
    string_ok = f"regexp_matches({v} ->> '$', '{NOT_BLANK}')" if required else "true"
    ok = (f"case when {v} is null then {'false' if required else 'true'} "
          f"when {_is_string(v)} then {string_ok} "
          f"else regexp_matches({v}::varchar, '{INTEGER}') end")
    return value, ok


def _timestamp(v: str, required: bool) -> tuple[str, str]:
    """A timestamp: text in a plain ISO 8601 form (no offset: UTC)."""
    value = f"try_cast(({v} ->> '$') as timestamptz)"
    ok = (f"case when {v} is null then {'false' if required else 'true'} "
          f"when {_is_string(v)} then regexp_matches({v} ->> '$', '{ISO_TIMESTAMP}') "
          f"and {value} is not null else false end")
    return value, ok


def _json(v: str) -> tuple[str, str]:
    """JSON text: an object, list, number or boolean as its JSON text; a string that is
    JSON as it is; '' and null as no value. A string that is not JSON is not settled."""
    value = f"case when {_is_string(v)} then nullif(({v} ->> '$'), '') else {v}::varchar end"
    ok = (f"case when {v} is null or not {_is_string(v)} then true "
          f"else ({v} ->> '$') = '' or json_valid({v} ->> '$') end")
    return value, ok


def _extra(v: str) -> str:
    """Any other column as text: a string as it is, any other value as its JSON text."""
    return f"case when {_is_string(v)} then ({v} ->> '$') else {v}::varchar end"


def _query(names: tuple[str, ...]) -> str:
    """Types and checks the columns of `parsed` (c0, c1, ...: the JSON text of each key in
    `names`, null where absent or null); `well_formed` says every column is as `validate`
    would type it (the rule on future timestamps is checked on the result)."""
    column = {name: f"c{i}" for i, name in enumerate(names)}
    values, checks = [], []
    for name in CONTRACT:
        v = column.get(name, "null::json")
        if name in TIMESTAMPS:
            value, ok = _timestamp(v, required=name == "timestamp")
        elif name in JSON_COLUMNS:
            value, ok = _json(v)
        else:
            value, ok = _text(v, required=name in REQUIRED_TEXT)
        values.append(f'{value} as "{name}"')
        checks.append(ok)
    for name in names:
        if name in JSON_EXTRAS:
            value, ok = _json(column[name])
            checks.append(ok)
        elif name not in NOT_EXTRA:
            value = _extra(column[name])
        else:
            continue
        values.append(f"{value} as x{len(values)}")
    return f"""
        select position, {", ".join(values)}, coalesce({" and ".join(checks)}, false) as well_formed
        from parsed
    """


@dataclass
class Settled:
    """A batch's outcome: `rows`, the settled rows (the contract's columns typed as
    `validate` types them, then any extra columns as text) and `settled`, their indexes in
    the batch (from 0); `unsettled`, the indexes of the lines left to `validate`."""

    rows: pa.Table
    settled: np.ndarray
    unsettled: np.ndarray


FUTURE_TOLERANCE = dt.timedelta(days=1)  # how far a timestamp may be after PostHog got it
MAX_KEYS = 63  # more distinct keys in one batch than this: settled row by row


class BatchValidator:
    """An in-memory DuckDB that settles batches of export lines (see the module's
    docstring). One per resource run, used from one thread.

    Three steps, each reading every line once: the keys of each line (whose duplicates
    and extras show here); the values of every key any line has, as JSON text, in one
    parse (a query that named a parsed value several times would parse the line again
    for each, so the values are taken out first); then the checks and types."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = pa.schema([f for f in schema if f.name in CONTRACT])
        self.con = duckdb.connect()
        # text without an offset is UTC; without ICU every time zone is UTC anyway
        with contextlib.suppress(duckdb.Error):
            self.con.execute("set TimeZone = 'UTC'")
        self.queries: dict[tuple[str, ...], str] = {}

    def close(self) -> None:
        self.con.close()

    def settle(self, lines: pa.Array) -> Settled:
        """Settles `lines`, text of one JSON row each (a trailing `\r\n` is white space)."""
        try:
            found = self._objects(lines)
            if found is None:
                return self.none(len(lines))
            candidates, names = found
            result = self._typed(lines, candidates, names)
        except duckdb.Error:  # anything the queries cannot take: row by row
            return self.none(len(lines))
        # `validate`'s last rule: not more than a day after the row reached PostHog
        received = pc.coalesce(result.column("created_at"), result.column("_inserted_at"),
                               pa.scalar(dt.datetime.now(dt.UTC)))
        on_time = pc.less_equal(result.column("timestamp"),
                                pc.add(received, pa.scalar(FUTURE_TOLERANCE)))
        good = result.filter(pc.and_(result.column("well_formed"), on_time.fill_null(False)))
        rows = pa.Table.from_arrays(
            [good.column(f.name).cast(f.type) for f in self.schema], schema=self.schema)
        extras = [n for n in names if n not in NOT_EXTRA]
        for i, name in enumerate(extras):
            rows = rows.append_column(name, good.column(len(CONTRACT) + 1 + i).cast(pa.string()))
        positions = good.column("position").to_numpy()
        done = np.zeros(len(lines), bool)
        done[positions] = True
        return Settled(rows, positions, np.flatnonzero(~done))

    def json_lines(self, batch: pa.RecordBatch) -> pa.Array:
        """Each row of a batch (from Parquet) as JSON text: times in ISO form, JSON held
        in text columns as that text (a string)."""
        self.con.register("batch", pa.Table.from_batches([batch]))
        try:
            lines = self.con.execute("select to_json(batch) as line from batch").to_arrow_table()
        finally:
            self.con.unregister("batch")
        return lines.column("line").combine_chunks().cast(pa.large_string())

    def none(self, n: int) -> Settled:
        """A batch of `n` lines left to `validate` whole."""
        return Settled(self.schema.empty_table(), np.arange(0), np.arange(n))

    def _objects(self, lines: pa.Array) -> tuple[pa.Array, tuple[str, ...]] | None:
        """(the indexes of the lines that are JSON objects without a key twice, every key
        they have, in order); None when the batch has more keys than MAX_KEYS."""
        self.con.register("lines", pa.table({"line": lines}))
        try:
            try:
                keys = self.con.execute(
                    "select starts_with(line, '{') as object, json_keys(line) as keys "
                    "from lines").to_arrow_table()
            except duckdb.InvalidInputException:  # a line is not JSON: it is not a candidate
                keys = self.con.execute(
                    "select starts_with(line, '{') and json_valid(line) as object, "
                    "case when json_valid(line) then json_keys(line) end as keys "
                    "from lines").to_arrow_table()
        finally:
            self.con.unregister("lines")
        lists = keys.column("keys").combine_chunks()
        flat = lists.flatten()
        names = tuple(sorted(pc.unique(flat).to_pylist()))
        if len(names) > MAX_KEYS:
            return None
        # a key twice in a row: the bits of its keys count fewer than its keys
        bits = np.left_shift(np.uint64(1), pc.index_in(flat, pa.array(names, pa.string()))
                             .to_numpy().astype(np.uint64))
        counts = pc.list_value_length(lists).fill_null(0).to_numpy()
        ends = np.cumsum(counts)
        mask = np.zeros(len(lines), np.uint64)
        present = counts > 0
        if len(bits):
            mask[present] = np.bitwise_or.reduceat(bits, (ends - counts)[present])
        unique = np.bitwise_count(mask) == counts
        objects = keys.column("object").combine_chunks().fill_null(False).to_numpy(
            zero_copy_only=False)
        return pa.array(np.flatnonzero(objects & present & unique), pa.int64()), names

    def _typed(self, lines: pa.Array, candidates: pa.Array,
               names: tuple[str, ...]) -> pa.Table:
        """`_query` over the candidates' values."""
        structure = "{" + ", ".join(f"{_json_text(n)}: \"JSON\"" for n in names) + "}"
        batch = pa.table({"position": candidates, "line": lines.take(candidates)})
        self.con.register("lines", batch)
        try:
            values = self.con.execute(
                f"select position, unnest(json_transform(line, {_quoted(structure)})) "
                "from lines").to_arrow_table()
        finally:
            self.con.unregister("lines")
        parsed = values.rename_columns(["position", *(f"c{i}" for i in range(len(names)))])
        if names not in self.queries:
            self.queries[names] = _query(names)
        self.con.register("parsed", parsed)
        try:
            return self.con.execute(self.queries[names]).to_arrow_table()
        finally:
            self.con.unregister("parsed")


def _json_text(text: str) -> str:
    return json.dumps(text)


def split_lines(data: bytes) -> tuple[pa.Array, np.ndarray]:
    """The lines of `data` as one text array, without copying (each keeps its `\\n`), and
    the offsets where they start and end (`offsets[i]:offsets[i + 1]`). A line that is not
    UTF-8 is given as empty text (never settled: its bytes go to `validate`)."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    if not len(ends) or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    lines = pa.Array.from_buffers(pa.large_string(), len(ends),
                                  [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:  # not UTF-8 somewhere: find where, line by line
        texts = []
        for start, end in itertools.pairwise(offsets.tolist()):
            piece = data[start:end]
            try:
                texts.append(piece.decode())
            except UnicodeDecodeError:
                texts.append("")
        lines = pa.array(texts, pa.large_string())
    return lines, offsets
