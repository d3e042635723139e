"""PostHog's query API (`POST /api/projects/{id}/query/`, HogQL) as a real query engine.

The HogQL the client sends is translated to DuckDB SQL and run against in-memory tables
`events`, `persons` and `person_distinct_ids`, so every keyset page is computed, not
canned. The subset understood: `SELECT <fields | field AS alias, …> FROM <table>
[WHERE …] [ORDER BY …] [LIMIT n]`, with comparisons, `AND`/`OR`/`NOT`, tuple comparison
`(a, b) > (x, y)`, `toDateTime('…')` (an ISO string; without an offset it is read in the
project's timezone, as HogQL does) and `toUUID('…')`. Anything else is refused with a 400,
like an unknown field.

Answers follow SOURCES.md 1.2 and PostHog's `HogQLQueryResponse`: `results` as lists in
`columns` order, `types` as `[name, ClickHouse type]` pairs, DateTimes converted to the
project timezone, `properties` as a JSON string, `hasMore`/`limit`/`offset` null with an
explicit LIMIT; without one at most 100 rows and `hasMore`. A LIMIT above 50 000 and any
OFFSET are refused (400). `"refresh": "blocking"` (the default) answers a repeated query
from the cache (`is_cached: true`), as PostHog does for up to 6 hours. Bodies are rendered
with orjson and `OPT_UTC_Z`, like PostHog's `SafeJSONRenderer`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import uuid as uuidlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import orjson
import pyarrow as pa

from journeys.stand_ins.server import FakeAPI, Request, Response

MAX_LIMIT = 50_000
DEFAULT_LIMIT = 100
THROTTLED = {
    "type": "throttled_error",
    "code": "throttled",
    "detail": "Request was throttled. Expected available in 59 seconds.",
    "attr": None,
}
UNAUTHENTICATED = {
    "type": "authentication_error",
    "code": "authentication_failed",
    "detail": "Personal API key found in request Authorization header is invalid.",
    "attr": None,
}
NOT_FOUND = {"type": "invalid_request", "code": "not_found", "detail": "Not found.", "attr": None}
QUERY_PATH = re.compile(r"^/api/(?:projects|environments)/([^/]+)/query/?$")

DATETIME = "DateTime64(6, '{tz}')"
# HogQL field (as written in a query) -> (DuckDB column, ClickHouse type of the result)
TABLES: dict[str, dict[str, tuple[str, str]]] = {
    "events": {
        "uuid": ("uuid", "UUID"),
        "event": ("event", "String"),
        "properties": ("properties", "String"),
        "timestamp": ("timestamp", DATETIME),
        "distinct_id": ("distinct_id", "String"),
        "elements_chain": ("elements_chain", "String"),
        "created_at": ("created_at", DATETIME),
        "person_id": ("person_id", "UUID"),
        "poe.id": ("person_id", "UUID"),
        "poe.properties": ("person_properties", "String"),
    },
    "persons": {
        "id": ("id", "UUID"),
        "created_at": ("created_at", DATETIME),
        "is_identified": ("is_identified", "Int8"),
        "properties": ("properties", "String"),
    },
    "person_distinct_ids": {
        "distinct_id": ("distinct_id", "String"),
        "person_id": ("person_id", "UUID"),
    },
}
DDL = """
create table events (
    uuid uuid not null, event varchar, properties varchar, "timestamp" timestamptz,
    distinct_id varchar, elements_chain varchar, created_at timestamptz, person_id uuid,
    person_properties varchar
);
create table persons (id uuid not null, created_at timestamptz, is_identified boolean,
                      properties varchar);
create table person_distinct_ids (distinct_id varchar not null, person_id uuid);
"""
EVENT_ARROW = pa.schema(
    [
        ("uuid", pa.string()),
        ("event", pa.string()),
        ("properties", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("distinct_id", pa.string()),
        ("elements_chain", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("person_id", pa.string()),
        ("person_properties", pa.string()),
    ]
)
KEYWORDS = {"and", "or", "not", "is", "null", "asc", "desc", "true", "false", "in", "like"}
TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*)
      | (?P<op>>=|<=|!=|<>|==|[(),*=<>+\-/])""",
    re.VERBOSE,
)
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


class HogQLError(ValueError):
    """A query PostHog would refuse; answered as 400."""


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        parsed = value
    else:
        parsed = dt.datetime.fromisoformat(str(value))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _json_text(value: Any, default: str | None = "{}") -> str | None:
    if value is None:
        return default
    return value if isinstance(value, str) else orjson.dumps(value).decode()


# -- HogQL -> DuckDB -------------------------------------------------------------------
def tokenize(query: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(query):
        match = TOKEN.match(query, position)
        if not match:
            raise HogQLError(f"Syntax error at position {position}: {query[position:][:20]!r}")
        position = match.end()
        if match.lastgroup != "space":
            tokens.append((match.lastgroup, match.group()))
    return tokens


def unquote(literal: str) -> str:
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _split_top(tokens: list[tuple[str, str]], separator: str) -> list[list[tuple[str, str]]]:
    parts: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for token in tokens:
        depth += token[1] == "("
        depth -= token[1] == ")"
        if depth == 0 and token[1] == separator:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


class Translation:
    """One HogQL SELECT as DuckDB SQL with its parameters and result columns."""

    def __init__(self, query: str, zone: ZoneInfo) -> None:
        self.zone = zone
        self.params: list[Any] = []
        self.columns: list[str] = []
        self.types: list[str] = []
        self.limit: int | None = None
        tokens = tokenize(query.strip().rstrip(";"))
        clauses = self._clauses(tokens)
        table = clauses["from"]
        if len(table) != 1 or table[0][1].lower() not in TABLES:
            raise HogQLError(f"Unknown table `{' '.join(t for _, t in table)}`.")
        self.table = table[0][1].lower()
        self.fields = TABLES[self.table]
        select = [self._select_item(item) for item in _split_top(clauses["select"], ",")]
        sql = f"select {', '.join(select)} from {self.table}"
        if clauses.get("where"):
            sql += f" where {self._expression(clauses['where'])}"
        if clauses.get("order"):
            sql += f" order by {self._expression(clauses['order'])}"
        if "offset" in clauses:
            raise HogQLError(
                "OFFSET is not supported in queries made with a personal API key; "
                "paginate with a keyset condition on the ORDER BY columns instead."
            )
        if "limit" in clauses:
            limit = clauses["limit"]
            if len(limit) != 1 or limit[0][0] != "number":
                raise HogQLError("LIMIT must be a number.")
            self.limit = int(limit[0][1])
            if self.limit > MAX_LIMIT:
                raise HogQLError(f"LIMIT {self.limit} is above the maximum of {MAX_LIMIT}.")
        self.sql = sql

    @staticmethod
    def _clauses(tokens: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
        if not tokens or tokens[0][1].lower() != "select":
            raise HogQLError("Only SELECT queries are supported.")
        clauses: dict[str, list[tuple[str, str]]] = {"select": []}
        current, depth, i = "select", 0, 1
        while i < len(tokens):
            kind, text = tokens[i]
            word = text.lower() if kind == "name" else ""
            depth += text == "("
            depth -= text == ")"
            if depth == 0 and word in ("from", "where", "limit", "offset"):
                if word in clauses:
                    raise HogQLError(f"Duplicate {word.upper()}.")
                current = word
                clauses[current] = []
            elif (
                depth == 0
                and word == "order"
                and i + 1 < len(tokens)
                and (tokens[i + 1][1].lower() == "by")
            ):
                current, i = "order", i + 1
                clauses[current] = []
            else:
                clauses[current].append(tokens[i])
            i += 1
        if "from" not in clauses:
            raise HogQLError("A FROM clause is required.")
        return clauses

    def _select_item(self, item: list[tuple[str, str]]) -> str:
        if not item:
            raise HogQLError("Empty SELECT item.")
        alias = None
        if len(item) >= 3 and item[-2][1].lower() == "as" and item[-1][0] == "name":
            alias, item = item[-1][1], item[:-2]
        text = " ".join(t for _, t in item)
        if len(item) == 1 and item[0][0] == "name" and item[0][1] in self.fields:
            name = item[0][1]
            kind = self.fields[name][1]
            self.columns.append(alias or name.split(".")[-1])
        else:
            kind = "String"
            self.columns.append(alias or text)
        self.types.append(kind.format(tz=self.zone.key))
        return f'{self._expression(item)} as "{self.columns[-1]}"'

    def _expression(self, tokens: list[tuple[str, str]]) -> str:
        out, i = [], 0
        while i < len(tokens):
            kind, text = tokens[i]
            is_call = i + 1 < len(tokens) and tokens[i + 1][1] == "("
            if kind == "name" and is_call and text.lower() not in KEYWORDS:
                piece, i = self._call(tokens, i)
                out.append(piece)
                continue
            if kind == "name" and text.lower() in KEYWORDS:
                out.append(text.upper())
            elif kind == "name":
                if text not in self.fields:
                    raise HogQLError(f"Unable to resolve field: {text}")
                out.append(f'"{self.fields[text][0]}"')
            elif kind == "string":
                self.params.append(unquote(text))
                out.append("?")
            else:
                out.append("=" if text == "==" else text)
            i += 1
        return " ".join(out)

    def _call(self, tokens: list[tuple[str, str]], i: int) -> tuple[str, int]:
        name = tokens[i][1]
        argument = tokens[i + 2] if i + 2 < len(tokens) else ("", "")
        closed = i + 3 < len(tokens) and tokens[i + 3][1] == ")"
        if name not in ("toDateTime", "toUUID") or argument[0] != "string" or not closed:
            raise HogQLError(f"Unsupported function call `{name}(…)` in this fake.")
        value = unquote(argument[1])
        if name == "toUUID":
            self.params.append(value)
            return "try_cast(? as uuid)", i + 4
        try:  # parseDateTime64BestEffortOrNull: NULL when it cannot parse
            parsed: dt.datetime | None = dt.datetime.fromisoformat(value.replace(" ", "T"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self.zone)
        self.params.append(parsed)
        return "cast(? as timestamptz)", i + 4


# -- the fake API ----------------------------------------------------------------------
class PostHogQueryAPI(FakeAPI):
    """`POST /api/projects/{project_id}/query/` over in-memory DuckDB tables."""

    def __init__(
        self,
        project_id: str = "4242",
        api_key: str = "phx_fake_personal_api_key_0123456789",
        timezone: str = "America/New_York",
    ) -> None:
        super().__init__()
        self.project_id = project_id
        self.api_key = api_key
        self.zone = ZoneInfo(timezone)
        self.db = duckdb.connect()
        self.db.execute("set TimeZone = 'UTC'")
        self.db.execute(DDL)
        self._db_lock = threading.Lock()
        self._cache: dict[str, dict] = {}
        self._corrupt: dict[str, dict[str, Any]] = {}
        self.queries: list[str] = []

    # -- data ----------------------------------------------------------------------------
    @classmethod
    def from_export(cls, folder: Path, **kwargs: Any) -> PostHogQueryAPI:
        """Events from PostHog export JSONL (one row per uuid, the latest `_inserted_at`),
        with persons and distinct-id mappings derived from them."""
        latest: dict[str, dict] = {}
        for path in sorted(Path(folder).glob("*.jsonl")):
            for line in path.read_bytes().splitlines():
                row = orjson.loads(line)
                kept = latest.get(row["uuid"])
                if kept is None or row["_inserted_at"] > kept["_inserted_at"]:
                    latest[row["uuid"]] = row
        api = cls(**kwargs)
        api.add_events(latest.values())
        api.derive_persons()
        return api

    def add_events(self, rows: Iterable[dict]) -> None:
        """Export-shaped rows (properties as objects or JSON text, ISO timestamps)."""
        records = []
        for row in rows:
            timestamp = _as_datetime(row["timestamp"])
            created = _as_datetime(row.get("created_at")) or timestamp
            records.append(
                {
                    "uuid": str(row["uuid"]),
                    "event": row.get("event", "$pageview"),
                    "properties": _json_text(row.get("properties")),
                    "timestamp": timestamp,
                    "distinct_id": row.get("distinct_id", ""),
                    "elements_chain": row.get("elements_chain", ""),
                    "created_at": created,
                    "person_id": row.get("person_id"),
                    "person_properties": _json_text(row.get("person_properties")),
                }
            )
        table = pa.Table.from_pylist(records, schema=EVENT_ARROW)
        with self._db_lock:
            self.db.register("incoming", table)
            self.db.execute(
                "insert into events select uuid::uuid, event, properties, timestamp, "
                "distinct_id, elements_chain, created_at, person_id::uuid, person_properties "
                "from incoming"
            )
            self.db.unregister("incoming")

    def add_persons(self, rows: Iterable[dict]) -> None:
        with self._db_lock:
            for row in rows:
                self.db.execute(
                    "insert into persons values (?::uuid, ?, ?, ?)",
                    [
                        str(row["id"]),
                        _as_datetime(row.get("created_at")),
                        bool(row.get("is_identified")),
                        _json_text(row.get("properties")),
                    ],
                )

    def add_distinct_ids(self, rows: Iterable[dict]) -> None:
        with self._db_lock:
            for row in rows:
                self.db.execute(
                    "insert into person_distinct_ids values (?, ?::uuid)",
                    [row["distinct_id"], str(row["person_id"])],
                )

    def derive_persons(self) -> None:
        """Persons and mappings as PostHog would hold them after these events: each
        distinct_id maps to the person of its latest event, an `$identify` moves its
        `$anon_distinct_id` to the identified person; a person is identified once it has an
        `$identify`, created at its first event, with its latest event's person props."""
        with self._db_lock:
            self.db.execute(
                """
                insert into person_distinct_ids
                with latest as (
                    select distinct_id, arg_max(person_id, "timestamp") as person_id
                    from events where person_id is not null and distinct_id <> ''
                    group by distinct_id
                ),
                merged as (
                    select json_extract_string(properties, '$."$anon_distinct_id"') as distinct_id,
                           arg_max(person_id, "timestamp") as person_id
                    from events
                    where event = '$identify' and person_id is not null
                      and json_extract_string(properties, '$."$anon_distinct_id"') is not null
                    group by 1
                )
                select coalesce(m.distinct_id, l.distinct_id),
                       coalesce(m.person_id, l.person_id)
                from latest as l full join merged as m on m.distinct_id = l.distinct_id
                """
            )
            self.db.execute(
                """
                insert into persons
                select e.person_id, min(e."timestamp"), bool_or(e.event = '$identify'),
                       arg_max(e.person_properties, e."timestamp")
                from events as e
                where e.person_id in (select person_id from person_distinct_ids)
                group by e.person_id
                """
            )

    def corrupt(self, uuid: str, /, **fields: Any) -> None:
        """Send these values instead of the stored ones for the event `uuid` (a row
        mangled on the way, e.g. a timestamp that does not parse, or a blank `uuid=`)."""
        self._corrupt[str(uuid)] = fields

    def throttle_next(self, times: int = 1) -> None:
        """429 as PostHog sends it: DRF-style body, no Retry-After."""
        self.fail_next(times, status=429, body=THROTTLED)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        """Direct read of the fake's tables (for expected values in tests)."""
        with self._db_lock:
            return self.db.execute(sql, params or []).fetchall()

    # -- HTTP ----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        match = QUERY_PATH.match(request.path)
        if not match:
            return Response(404, NOT_FOUND)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Response(401, UNAUTHENTICATED)
        if match.group(1) != self.project_id:
            return Response(404, NOT_FOUND)
        if request.method != "POST":
            return Response(
                405,
                {
                    "type": "invalid_request",
                    "code": "method_not_allowed",
                    "detail": f'Method "{request.method}" not allowed.',
                    "attr": None,
                },
            )
        body = request.body if isinstance(request.body, dict) else {}
        query = body.get("query") if isinstance(body.get("query"), dict) else {}
        if query.get("kind") != "HogQLQuery" or not isinstance(query.get("query"), str):
            return self._invalid("Expected {'query': {'kind': 'HogQLQuery', 'query': '…'}}.")
        hogql = query["query"]
        self.queries.append(hogql)
        refresh = body.get("refresh", "blocking")
        if refresh in ("blocking", "lazy_async", None) and hogql in self._cache:
            return self._json({**self._cache[hogql], "is_cached": True})
        try:
            payload = self._execute(hogql)
        except HogQLError as error:
            return self._invalid(str(error))
        self._cache[hogql] = payload
        return self._json(payload)

    @staticmethod
    def _invalid(detail: str) -> Response:
        return Response(
            400,
            {
                "type": "validation_error",
                "code": "hogql_query_error",
                "detail": detail,
                "attr": None,
            },
        )

    @staticmethod
    def _json(payload: dict) -> Response:
        return Response(
            200,
            orjson.dumps(payload, option=orjson.OPT_UTC_Z),
            {"Content-Type": "application/json"},
        )

    def _execute(self, hogql: str) -> dict:
        translation = Translation(hogql, self.zone)
        limit = translation.limit
        fetch = DEFAULT_LIMIT + 1 if limit is None else limit
        sql = f"{translation.sql} limit {fetch}"
        try:
            with self._db_lock:
                rows = self.db.execute(sql, translation.params).fetchall()
        except duckdb.Error as error:
            raise HogQLError(f"Query failed: {error}") from error
        has_more = None
        if limit is None:
            has_more, rows = len(rows) > DEFAULT_LIMIT, rows[:DEFAULT_LIMIT]
        results = [self._render(translation, row) for row in rows]
        now = dt.datetime.now(dt.UTC)
        shown = hogql if limit is not None else f"{hogql} LIMIT {DEFAULT_LIMIT + 1} OFFSET 0"
        return {
            "cache_key": "cache_" + hashlib.sha256(hogql.encode()).hexdigest()[:32],
            "cache_target_age": (now + dt.timedelta(hours=6)).isoformat(),
            "calculation_trigger": None,
            "clickhouse": sql,
            "columns": translation.columns,
            "error": None,
            "explain": None,
            "hasMore": has_more,
            "hogql": shown,
            "is_cached": False,
            "last_refresh": now.isoformat(),
            "limit": DEFAULT_LIMIT if limit is None else None,
            "metadata": None,
            "modifiers": {"convertToProjectTimezone": True},
            "next_allowed_client_refresh": (now + dt.timedelta(minutes=1)).isoformat(),
            "offset": 0 if limit is None else None,
            "query": None,
            "query_metadata": None,
            "query_status": None,
            "resolved_date_range": None,
            "results": results,
            "timezone": self.zone.key,
            "timings": None,
            "types": [[n, t] for n, t in zip(translation.columns, translation.types, strict=True)],
        }

    def _render(self, translation: Translation, row: tuple) -> list[Any]:
        values: list[Any] = []
        for kind, value in zip(translation.types, row, strict=True):
            if isinstance(value, dt.datetime):
                value = value.astimezone(self.zone)
            elif isinstance(value, uuidlib.UUID):
                value = str(value)
            elif kind == "Int8" and isinstance(value, bool):
                value = int(value)
            values.append(value)
        if translation.table == "events" and "uuid" in translation.columns:
            changes = self._corrupt.get(values[translation.columns.index("uuid")], {})
            for name, replacement in changes.items():
                if name in translation.columns:
                    values[translation.columns.index(name)] = replacement
        return values
