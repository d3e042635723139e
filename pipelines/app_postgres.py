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
  next load without any manual step. `properties` (jsonb) lands as JSON.
- Timestamps stay as Postgres stores them (`timestamp without time zone` holding UTC);
  staging reads them as UTC.
- An event row without `id` or `user_id` (possible when the app's schema allows nulls)
  is not loaded into `events` but set aside in `_rejected_records` with the reason (a
  separate small query each run; merged, so counted once).

Configuration (dlt config providers):
    SOURCES__APP_POSTGRES__CREDENTIALS = postgresql://user:password@host:5432/app  (secret)
    SOURCES__APP_POSTGRES__SCHEMA = public
    SOURCES__APP_POSTGRES__USERS_TABLE / EVENTS_TABLE / USERS_CURSOR / EVENTS_CURSOR
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
import sqlalchemy as sa
from dlt.common.configuration.specs import ConnectionStringCredentials
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.sources.sql_database import sql_table
from dlt.sources.sql_database.helpers import engine_from_credentials

from pipelines.quarantine import REJECTED_TABLE, Rejects

SOURCE = "app_postgres"
DEFAULT_LAG_SECONDS = 60.0
EVENT_KEYS = ("id", "user_id")  # an event row without these is set aside
NAMING = NamingConvention()


def _key_columns(table: sa.Table, required: tuple[str, ...]) -> list[sa.Column]:
    """The table's columns that dlt will name `required` in raw (`userId` -> `user_id`)."""
    by_raw_name = {NAMING.normalize_identifier(c.name): c for c in table.columns}
    absent = [name for name in required if name not in by_raw_name]
    if absent:
        raise ValueError(f"{SOURCE}: table {table.fullname} has no column for {absent}")
    return [by_raw_name[name] for name in required]


def _with_keys(required: tuple[str, ...]):
    """A query adapter that loads only rows having every key column."""

    def adapt(query: sa.Select, table: sa.Table) -> sa.Select:
        return query.where(*(c.is_not(None) for c in _key_columns(table, required)))

    return adapt


def _rows_without_keys(credentials: Any, schema: str, table_name: str,
                       required: tuple[str, ...]) -> Iterator[Any]:
    """Rows the events resource skips for a missing key, set aside with the reason.
    Re-read each run and merged on (table, id or row number): counted once."""
    engine = engine_from_credentials(credentials, may_dispose_after_use=True)
    try:
        table = sa.Table(table_name, sa.MetaData(), schema=schema, autoload_with=engine)
        columns = _key_columns(table, required)
        query = sa.select(table).where(sa.or_(*(c.is_(None) for c in columns)))
        rejects = Rejects(SOURCE, f"{schema}.{table_name}")
        with engine.connect() as connection:
            for number, row in enumerate(connection.execute(query).mappings(), start=1):
                reason = next(f"missing_{name}" for name, column in zip(required, columns,
                                                                         strict=True)
                              if row[column.name] is None)
                key = row[columns[0].name]
                rejects.add(key if isinstance(key, int) else -number, reason,
                            str({k: v for k, v in row.items()}))
        if rejects:
            yield rejects.rows
    finally:
        engine.dispose()


def _incremental(cursor: str, lag_seconds: float) -> dlt.sources.incremental | None:
    if not cursor:
        return None
    return dlt.sources.incremental(cursor, lag=lag_seconds, on_cursor_value_missing="include")


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
    users = sql_table(table=users_table, incremental=_incremental(users_cursor, lag_seconds),
                      **common).with_name("users")
    users.apply_hints(table_name="users", primary_key="id", write_disposition="merge")
    events = sql_table(table=events_table, incremental=_incremental(events_cursor, lag_seconds),
                       query_adapter_callback=_with_keys(EVENT_KEYS), **common).with_name("events")
    events.apply_hints(table_name="events", primary_key="id", write_disposition="merge",
                       columns={"properties": {"data_type": "json"}})
    rejected = dlt.resource(
        _rows_without_keys(credentials, schema, events_table, EVENT_KEYS),
        name="rejected_events", table_name=REJECTED_TABLE, write_disposition="merge",
        primary_key=["source", "location", "position"])
    return users, events, rejected
