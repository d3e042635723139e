"""The app's own Postgres (`users`, `events`) → `raw_app.users` / `raw_app.events`, with
dlt's `sql_database` source.

- **Incremental on a cursor column** (`updated_at` for users, `created_at` for events by
  default; the source's own column names, e.g. Prisma's `"updatedAt"`), with a small
  `lag` that re-reads the last seconds: rows committed late by long transactions, or
  updated within the same millisecond as the cursor, are not missed.
- **Merge on the primary key** (`id`), so re-reading the lag window, re-running, or a
  run killed midway never duplicates a row; a changed user row replaces the old one.
- Table names, schema and cursor columns are configuration (Prisma maps models to
  quoted `"User"` / `"Event"` unless `@@map` says otherwise). `users_cursor = ""` reloads
  the whole users table each run (for apps whose users table has no update timestamp);
  merge on id keeps that idempotent.
- Columns are reflected every run, so a column added in Postgres appears in raw on the
  next load without any manual step. Ids keep their column's type: integer, or text
  (Prisma's cuid default, uuids), compared as text downstream.
- JSON columns (`properties` jsonb) land as JSON holding only the keys each row set
  (`app_rows.json_text`). They are selected as text: sent as objects, dlt's arrow
  backend would infer one struct per chunk and give every row every key any row had.
- Timestamps stay as Postgres stores them (`timestamp without time zone` holding UTC);
  staging reads them as UTC.
- A user row without `id`, an event row without `id` or `user_id` (null, '' or only
  white space; possible when the app's schema allows it) is not loaded but set aside in
  `_rejected_records` with the reason (a separate small query each run; merged on where
  it came from, so counted once).

Configuration (dlt config providers):
    SOURCES__APP_POSTGRES__CREDENTIALS = postgresql://user:password@host:5432/app  (secret)
    SOURCES__APP_POSTGRES__SCHEMA = public
    SOURCES__APP_POSTGRES__USERS_TABLE / EVENTS_TABLE / USERS_CURSOR / EVENTS_CURSOR
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.common.configuration.specs import ConnectionStringCredentials
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.sources.sql_database import sql_table
from dlt.sources.sql_database.helpers import engine_from_credentials

from pipelines.app_rows import KEYS, VALUES, WHITESPACE, is_missing, json_text, missing_key
from pipelines.quarantine import REJECTED_TABLE, Rejects

SOURCE = "app_postgres"
DEFAULT_LAG_SECONDS = 60.0
NAMING = NamingConvention()


def _key_columns(table: sa.Table, required: tuple[str, ...]) -> list[sa.Column]:
    """The table's columns that dlt will name `required` in raw (`userId` -> `user_id`)."""
    by_raw_name = {NAMING.normalize_identifier(c.name): c for c in table.columns}
    absent = [name for name in required if name not in by_raw_name]
    if absent:
        raise ValueError(f"{SOURCE}: table {table.fullname} has no column for {absent}")
    return [by_raw_name[name] for name in required]


def _has_value(column: sa.ColumnElement) -> sa.ColumnElement:
    """SQL: the key holds a value. An integer is enough; text must also not be '' or only
    white space (the same characters Python's strip() removes)."""
    if isinstance(column.type, sa.Integer):
        return column.is_not(None)
    text = sa.cast(column, sa.Text)
    return sa.and_(column.is_not(None), sa.func.btrim(text, sa.literal(WHITESPACE)) != "")


def _json_as_text(query: sa.Select) -> sa.Select:
    """Selects json / jsonb columns as their text. Sent as objects, dlt's arrow backend
    infers one struct across a chunk and gives every row every key any row had (null
    where the row had none); as text each row keeps its own (`app_rows.json_text`)."""
    columns = [sa.cast(c, sa.Text).label(c.name) if isinstance(c.type, sa.JSON) else c
               for c in query.selected_columns]
    return query.with_only_columns(*columns, maintain_column_froms=True)


def _adapter(required: tuple[str, ...]):
    """A query adapter that loads only rows having every key column, JSON as text."""

    def adapt(query: sa.Select, table: sa.Table) -> sa.Select:
        keys = _key_columns(table, required)
        return _json_as_text(query).where(*(_has_value(c) for c in keys))

    return adapt


def _json_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns if isinstance(c.type, sa.JSON)]


def _set_keys_only(json_columns: list[str]):
    """A map step: each JSON column rewritten by `app_rows.json_text` (only set keys)."""

    def rewrite(item: pa.Table) -> pa.Table:
        for name in json_columns:
            if name in item.column_names:
                seen: dict[str, str | None] = {}  # the same text is cleaned once
                texts = [seen[v] if v in seen else seen.setdefault(v, json_text(v))
                         for v in item.column(name).to_pylist()]
                position = item.column_names.index(name)
                item = item.set_column(position, name, pa.array(texts, pa.string()))
        return item

    return rewrite


def _reject_key(location: str, key: Any, raw: str) -> tuple[str, int]:
    """Where a rejected row is recorded (`_rejected_records` merges on it, so a row
    re-read each run is counted once): an integer id is the position; a text id, or the
    row's content when the id is missing, goes into the location."""
    if isinstance(key, int) and not isinstance(key, bool):
        return location, key
    if is_missing(key):
        return f"{location} sha1={hashlib.sha1(raw.encode()).hexdigest()[:16]}", 0
    return f"{location} id={key}", 0


def _rows_without_keys(credentials: Any, schema: str, table_name: str,
                       required: tuple[str, ...]) -> Iterator[Any]:
    """Rows the table's resource skips for a missing key, set aside with the reason.
    Re-read each run and merged on (location, position): counted once."""
    engine = engine_from_credentials(credentials, may_dispose_after_use=True)
    try:
        table = sa.Table(table_name, sa.MetaData(), schema=schema, autoload_with=engine)
        columns = _key_columns(table, required)
        query = sa.select(table).where(sa.or_(*(sa.not_(_has_value(c)) for c in columns)))
        rows: list[dict] = []
        with engine.connect() as connection:
            for found in connection.execute(query).mappings():
                keys = {name: found[c.name] for name, c in zip(required, columns, strict=True)}
                raw = str(dict(found.items()))
                place, position = _reject_key(f"{schema}.{table_name}", found[columns[0].name],
                                              raw)
                rejects = Rejects(SOURCE, place)
                rejects.add(position, missing_key(keys, required) or "missing_key", raw)
                rows.extend(rejects.rows)
        if rows:
            yield rows
    finally:
        engine.dispose()


def _incremental(cursor: str, lag_seconds: float) -> dlt.sources.incremental | None:
    if not cursor:
        return None
    return dlt.sources.incremental(cursor, lag=lag_seconds, on_cursor_value_missing="include")


def _app_table(table: str, name: str, cursor: str, lag_seconds: float,
               common: dict[str, Any]) -> Any:
    """The `users` or `events` resource: rows with their keys, JSON with only set keys."""
    metadata = sa.MetaData(schema=common["schema"])
    resource = sql_table(table=table, incremental=_incremental(cursor, lag_seconds),
                         query_adapter_callback=_adapter((*KEYS[name], *VALUES[name])),
                         metadata=metadata,
                         **common).with_name(name)
    reflected = metadata.tables.get(f"{common['schema']}.{table}")
    json_columns = _json_columns(reflected) if reflected is not None else []
    if json_columns:
        resource.add_map(_set_keys_only(json_columns))
    # an events `properties` column lands as JSON even where the app keeps it as text
    json_names = {NAMING.normalize_identifier(c) for c in json_columns}
    json_names |= {"properties"} if name == "events" else set()
    resource.apply_hints(table_name=name, primary_key="id", write_disposition="merge",
                         columns={c: {"data_type": "json"} for c in sorted(json_names)} or None)
    return resource


def _rejected(credentials: Any, schema: str, table: str, name: str) -> Any:
    return dlt.resource(
        _rows_without_keys(credentials, schema, table, (*KEYS[name], *VALUES[name])),
        name=f"rejected_{name}", table_name=REJECTED_TABLE, write_disposition="merge",
        primary_key=["source", "location", "position"])


@dlt.source(name=SOURCE, max_table_nesting=0)
def app_postgres(
    credentials: ConnectionStringCredentials | str = dlt.secrets.value,
    schema: str = "public",
    users_table: str = "users",
    events_table: str = "events",
    users_cursor: str = "updated_at",
    events_cursor: str = "created_at",
    lag_seconds: float = DEFAULT_LAG_SECONDS,
    chunk_size: int = 50_000,
) -> Any:
    """`users` and `events` from the app's Postgres, incremental and merged on `id`."""
    common = {"credentials": credentials, "schema": schema, "backend": "pyarrow",
              "chunk_size": chunk_size, "reflection_level": "full"}
    return (
        _app_table(users_table, "users", users_cursor, lag_seconds, common),
        _app_table(events_table, "events", events_cursor, lag_seconds, common),
        _rejected(credentials, schema, users_table, "users"),
        _rejected(credentials, schema, events_table, "events"),
    )
