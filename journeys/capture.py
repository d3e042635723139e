"""Server-side capture that enforces the tracking plan: `journeys.track(...)` and
`journeys.identify(...)`.

Events go to PostHog through the official `posthog` SDK (7.x: `POST {host}/batch/`,
batched by a background thread unless `sync_mode=True`). Before anything is sent, an
event is checked against the tracking plan (seeds/, `journeys.plan.check_event`):

- **development** mode (the default): an error (unknown, removed or proposed event, a
  property of the wrong type, a required one missing) raises `TrackingPlanViolation`
  and nothing is sent;
- **production** mode: the same is logged as a warning (logger `journeys.capture`) and
  the event is sent anyway: losing data is worse than sending a bad name.

Deprecated events are sent with a warning in both modes. The mode is `Tracker(mode=...)`,
else env `JOURNEYS_TRACKING_MODE` (`development` | `production`).

Identity follows SEMANTICS.md: `identify(user_id, anon_id, set=..., set_once=...)`
sends `$identify` with `properties.$anon_distinct_id`; first-touch fields
(`FIRST_TOUCH_PROPERTIES`, any `$initial_*`) go only through `set_once`, so a later
visit never overwrites them. In `set` they are a violation: raised in development; in
production logged and **moved to `set_once`** (an explicit `set_once` value wins), so
the value is kept without overwriting an earlier first touch. Illegal distinct_ids
(`ILLEGAL_DISTINCT_IDS_*`: blank, `anonymous`, `null`, `0`, ...) are refused in both
modes: they would link nothing and lump unrelated people into one person.

Optionally (`insert_into=` a Postgres URL or an open psycopg connection, or env
`JOURNEYS_APP_DATABASE_URL`) the event is also written to the app's events table
(`AppEventsTable`, by default the generator's `events`) first; when that fails nothing
is sent, so PostHog never holds an event the app's table lacks.

    with Tracker() as tracker:                      # POSTHOG_HOST, POSTHOG_PROJECT_API_KEY
        tracker.track("42", "workspace_created", {"template": "blank"}, session_id=sid)
        tracker.identify("42", anon_id, set={"plan": "trial"},
                         set_once={"utm_source": "google"})
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid as uuidlib
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from posthog import Posthog
from psycopg import sql
from psycopg.types.json import Json, Jsonb

from journeys.plan import SEEDS_DIR, Finding, TrackingPlan, check_event, load_plan

log = logging.getLogger("journeys.capture")

MODE_ENV = "JOURNEYS_TRACKING_MODE"
HOST_ENV = "POSTHOG_HOST"
API_KEY_ENV = "POSTHOG_PROJECT_API_KEY"
APP_DATABASE_URL_ENV = "JOURNEYS_APP_DATABASE_URL"
DEVELOPMENT, PRODUCTION = "development", "production"
MODES = (DEVELOPMENT, PRODUCTION)

# PostHog's illegal distinct_ids (SEMANTICS.md "Identity", macros/identity.sql): blank,
# these words in any case, these exact values; each also wrapped in " or '.
ILLEGAL_DISTINCT_IDS_ANY_CASE = frozenset({
    "anonymous", "guest", "distinctid", "distinct_id", "id", "not_authenticated", "email",
    "undefined", "true", "false",
})
ILLEGAL_DISTINCT_IDS_EXACT = frozenset({"[object Object]", "NaN", "None", "none", "null", "0"})

# Where a visit came from: set once per person, never overwritten (SEMANTICS.md "First
# touch"). posthog-js's CAMPAIGN_PARAMS (utm_*, ad click ids) and referrer fields.
FIRST_TOUCH_PROPERTIES = frozenset({
    "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "utm_id",
    "gad_source", "mc_cid",
    "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "fbclid", "msclkid", "twclid",
    "li_fat_id", "igshid", "ttclid", "rdt_cid", "epik", "qclid", "sccid", "irclid", "_kx",
    "referrer", "$referrer", "referring_domain", "$referring_domain",
    "first_touch_source",
})
# ... and anything named as an initial value ($initial_utm_source, initial_referring_domain).
FIRST_TOUCH_PREFIXES = ("$initial_", "initial_", "first_touch_")

_PLAN_ADVICE = (
    "Fix the event name, the property's type or the missing property at the call site; "
    "or, if the event is new or has changed, add it to seeds/tracking_plan.csv (its "
    "properties to seeds/tracking_plan_properties.csv) and run `journeys lint-plan`."
)
_FIRST_TOUCH_ADVICE = (
    "First-touch fields describe the visit a person first came from and must never be "
    "overwritten: pass them in set_once, never in set."
)


class TrackingPlanViolation(ValueError):
    """An event breaks the tracking plan (or the first-touch rule) in development mode;
    nothing was sent. `findings` lists every problem."""

    def __init__(self, event: str, findings: list[Finding], advice: str) -> None:
        self.event = event
        self.findings = findings
        lines = "\n".join(f"  - {finding}" for finding in findings)
        super().__init__(f"{event!r} was not sent: it breaks the tracking plan "
                         f"(development mode)\n{lines}\n{advice}")


class InvalidDistinctId(ValueError):
    """A blank or illegal distinct_id: PostHog links nothing through it."""


class TrackerConfigError(ValueError):
    """The tracker cannot be built: a missing or wrong setting (named, with the fix)."""


@dataclass(frozen=True)
class AppEventsTable:
    """The app's events table and its columns; defaults are the generator's schema.sql.

    Names are quoted identifiers, used exactly as written (Prisma's are case-sensitive).
    An `id` column with a default (identity, serial) is left to the database; a text or
    uuid id without one gets the PostHog event uuid; an integer id without one gets
    max(id) + 1 under a table lock (give the column an identity default instead)."""

    table: str = "events"
    schema: str | None = None  # None: the connection's current schema
    id_column: str = "id"
    user_id_column: str = "user_id"
    name_column: str = "name"
    properties_column: str = "properties"
    session_id_column: str | None = "session_id"  # None: the table has no session column
    created_at_column: str = "created_at"

    @classmethod
    def prisma(cls, table: str = "Event", schema: str | None = None,
               session_id_column: str | None = None) -> AppEventsTable:
        """Prisma's default naming: model `Event`, camelCase columns."""
        return cls(table, schema, "id", "userId", "name", "properties", session_id_column,
                   "createdAt")

    def identifier(self) -> sql.Composable:
        if self.schema:
            return sql.Identifier(self.schema, self.table)
        return sql.Identifier(self.table)

    def label(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table


@dataclass(frozen=True)
class _Column:
    data_type: str
    has_default: bool


def resolve_mode(mode: str | None = None) -> str:
    """`development` or `production`: the argument, else env JOURNEYS_TRACKING_MODE, else
    development. Anything else is refused."""
    source = "mode"
    if mode is None:
        mode, source = os.environ.get(MODE_ENV) or DEVELOPMENT, MODE_ENV
    value = mode.strip().lower() if isinstance(mode, str) else mode
    if value not in MODES:
        raise TrackerConfigError(
            f"{source}={mode!r} is not a tracking mode: use 'development' (plan violations "
            "raise, nothing is sent) or 'production' (they are logged and sent)")
    return value


def is_illegal_distinct_id(value: str) -> bool:
    """Whether PostHog refuses to link through this distinct_id (compared as text)."""
    if not value.strip():
        return True
    unquoted = value
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        unquoted = value[1:-1]
    return unquoted.lower() in ILLEGAL_DISTINCT_IDS_ANY_CASE or (
        unquoted in ILLEGAL_DISTINCT_IDS_EXACT)


def first_touch_fields(properties: Mapping[str, Any]) -> list[str]:
    """The keys of `properties` that are first-touch fields."""
    return [key for key in properties
            if key in FIRST_TOUCH_PROPERTIES or key.startswith(FIRST_TOUCH_PREFIXES)]


def _distinct_id(argument: str, value: Any) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidDistinctId(f"{argument}={value!r} is not a distinct_id: pass the id as "
                                "a string (or an integer)")
    text = str(value)
    if is_illegal_distinct_id(text):
        raise InvalidDistinctId(
            f"{argument}={text!r} is a blank or illegal distinct_id: PostHog links nothing "
            "through it and every event carrying it would read as one person. Pass the "
            "app user's id (or the browser's anonymous id), never a placeholder.")
    return text


def _utc(timestamp: datetime | str | None) -> datetime:
    """The event time as an aware UTC datetime; naive values are read as UTC (the
    project's convention; the SDK would guess local time for a recent naive value)."""
    if timestamp is None:
        return datetime.now(UTC)
    if isinstance(timestamp, str):
        try:
            timestamp = datetime.fromisoformat(timestamp)
        except ValueError:
            raise ValueError(f"timestamp {timestamp!r} is not an ISO 8601 datetime") from None
    if not isinstance(timestamp, datetime):
        raise TypeError(f"timestamp must be a datetime or ISO string, got {timestamp!r}")
    if timestamp.tzinfo is None:
        return timestamp.replace(tzinfo=UTC)
    return timestamp.astimezone(UTC)


def _setting(value: str | None, env: str, what: str, hint: str) -> str:
    value = (value if value is not None else os.environ.get(env, "")).strip()
    if not value:
        raise TrackerConfigError(f"{what} is missing: pass it to Tracker() or set {env} "
                                 f"({hint})")
    return value


class Tracker:
    """Validates events against the tracking plan and sends them with the PostHog SDK.

    One per process (the SDK batches in a background thread); `close()` it, or use it as
    a context manager, so queued events are sent before a short script exits. Extra
    keyword arguments go to `posthog.Posthog` (`flush_at`, `max_retries`, ...)."""

    def __init__(self, *, mode: str | None = None, host: str | None = None,
                 api_key: str | None = None, plan: TrackingPlan | Path | str | None = None,
                 insert_into: str | psycopg.Connection | None = None,
                 events_table: AppEventsTable | None = None, sync_mode: bool = False,
                 gzip: bool = False, **posthog_options: Any) -> None:
        self.mode = resolve_mode(mode)
        self.plan = plan if isinstance(plan, TrackingPlan) else load_plan(plan or SEEDS_DIR)
        host = _setting(host, HOST_ENV, "PostHog host",
                        "https://us.i.posthog.com, https://eu.i.posthog.com or your own")
        api_key = _setting(api_key, API_KEY_ENV, "PostHog project API key",
                           "Project settings > Project API key, phc_...")
        if api_key.startswith("phx_"):
            raise TrackerConfigError(
                f"{API_KEY_ENV}: that is a personal API key (phx_...); capture needs the "
                "project API key (phc_..., Project settings > Project API key)")
        self.host = host
        self.insert_into = (insert_into if insert_into is not None
                            else os.environ.get(APP_DATABASE_URL_ENV) or None)
        self.events_table = events_table or AppEventsTable()
        self.client = Posthog(api_key, host=host, sync_mode=sync_mode, gzip=gzip,
                              **posthog_options)
        self._connections: dict[str, psycopg.Connection] = {}
        self._columns: weakref.WeakKeyDictionary[psycopg.Connection, dict[str, _Column]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()
        self._closed = False

    # -- capture ---------------------------------------------------------------------
    def track(self, user_id: str | int, event: str,
              properties: Mapping[str, Any] | None = None, session_id: str | None = None,
              *, timestamp: datetime | str | None = None, uuid: str | None = None,
              groups: Mapping[str, str] | None = None,
              insert_into: str | psycopg.Connection | None = None) -> str:
        """Check `event` against the plan, write it to the app's events table when asked
        to, and queue it for PostHog; returns the event's uuid."""
        self._check_open()
        distinct_id = _distinct_id("user_id", user_id)
        if not isinstance(event, str) or not event.strip():
            raise ValueError(f"event must be a non-empty string, got {event!r}")
        if properties is not None and not isinstance(properties, Mapping):
            raise TypeError(f"properties must be a mapping, got {type(properties).__name__}")
        own = dict(properties or {})
        findings = check_event(self.plan, event, own)
        sent = dict(own)
        person_set = sent.get("$set")
        if isinstance(person_set, Mapping):
            moved = first_touch_fields(person_set)
            findings += [Finding("error", f"{event}.$set.{key}",
                                 "is a first-touch field: put it in $set_once")
                         for key in moved]
        else:
            moved = []
        self._enforce(event, findings,
                      f"{_PLAN_ADVICE} {_FIRST_TOUCH_ADVICE}" if moved else _PLAN_ADVICE)
        if moved:
            sent["$set"], sent["$set_once"] = _move_first_touch(
                person_set, sent.get("$set_once"), moved)
        if session_id is not None:
            sent["$session_id"] = session_id
        occurred_at = _utc(timestamp)
        event_uuid = str(uuidlib.UUID(str(uuid))) if uuid else str(uuidlib.uuid4())
        target = insert_into if insert_into is not None else self.insert_into
        if target is not None:
            self._insert(target, event_uuid, distinct_id, event, own,
                         sent.get("$session_id"), occurred_at)
        self.client.capture(event, distinct_id=distinct_id, properties=sent,
                            timestamp=occurred_at, uuid=event_uuid,
                            groups=dict(groups) if groups else None)
        return event_uuid

    def identify(self, user_id: str | int, anon_id: str | int,
                 set: Mapping[str, Any] | None = None,
                 set_once: Mapping[str, Any] | None = None, *,
                 timestamp: datetime | str | None = None, uuid: str | None = None) -> str:
        """Link the anonymous id to the user (`$identify`), setting person properties:
        `set` for mutable attributes (latest value wins), `set_once` for first touch."""
        self._check_open()
        distinct_id = _distinct_id("user_id", user_id)
        anon_distinct_id = _distinct_id("anon_id", anon_id)
        to_set, to_set_once = dict(set or {}), dict(set_once or {})
        misplaced = first_touch_fields(to_set)
        findings = [Finding("error", f"$identify.$set.{key}",
                            "is a first-touch field: pass it in set_once, never in set")
                    for key in misplaced]
        self._enforce("$identify", findings, _FIRST_TOUCH_ADVICE,
                      sent_anyway="moved to set_once and sent")
        if misplaced:
            to_set, to_set_once = _move_first_touch(to_set, to_set_once, misplaced)
        properties: dict[str, Any] = {"$anon_distinct_id": anon_distinct_id}
        if to_set:
            properties["$set"] = to_set
        if to_set_once:
            properties["$set_once"] = to_set_once
        event_uuid = str(uuidlib.UUID(str(uuid))) if uuid else str(uuidlib.uuid4())
        self.client.capture("$identify", distinct_id=distinct_id, properties=properties,
                            timestamp=_utc(timestamp), uuid=event_uuid)
        return event_uuid

    # -- lifecycle -------------------------------------------------------------------
    def flush(self, timeout_seconds: float | None = 10) -> None:
        """Send every queued event now (waits up to `timeout_seconds`)."""
        self.client.flush(timeout_seconds)

    def close(self) -> None:
        """Send what is queued, stop the SDK's worker and close owned connections."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connections = list(self._connections.values())
            self._connections.clear()
        try:
            self.client.shutdown()
        finally:
            for connection in connections:
                connection.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Tracker is closed: create a new one to send events")

    def _plan_note(self, event: str) -> str:
        """What the plan says of a removed or proposed event (its replacement, usually)."""
        planned = self.plan.events.get(event)
        if planned is not None and planned.status in ("removed", "proposed"):
            return f"The plan says of {event!r}: {planned.description}"
        return ""

    def _enforce(self, event: str, findings: list[Finding], advice: str,
                 sent_anyway: str = "sent anyway") -> None:
        """Raise on errors in development; log them in production. Warnings: logged."""
        note = self._plan_note(event)
        if self.mode == DEVELOPMENT and any(f.severity == "error" for f in findings):
            raise TrackingPlanViolation(event, findings, f"{note} {advice}".strip())
        for finding in findings:
            if finding.severity == "error":
                log.warning("tracking plan violation, %s (production mode): %s%s",
                            sent_anyway, finding,
                            f". {note}" if note and finding.subject == event else "")
            else:
                log.warning("tracking plan: %s", finding)

    def _connection(self, target: str | psycopg.Connection) -> psycopg.Connection:
        if isinstance(target, psycopg.Connection):
            return target
        with self._lock:
            connection = self._connections.get(target)
            if connection is None or connection.closed:
                connection = psycopg.connect(target, autocommit=True)
                self._connections[target] = connection
            return connection

    def _table_columns(self, connection: psycopg.Connection) -> dict[str, _Column]:
        table = self.events_table
        columns = self._columns.get(connection)
        if columns is None:
            rows = connection.execute(
                "select column_name, data_type, "
                "column_default is not null or is_identity = 'YES' "
                "from information_schema.columns "
                "where table_schema = coalesce(%s, current_schema()) and table_name = %s",
                (table.schema, table.table)).fetchall()
            columns = {name: _Column(data_type, has_default)
                       for name, data_type, has_default in rows}
            wanted = [table.id_column, table.user_id_column, table.name_column,
                      table.properties_column, table.created_at_column,
                      *([table.session_id_column] if table.session_id_column else [])]
            missing = [name for name in wanted if name not in columns]
            if missing:
                where = (f"table {table.label()!r} does not exist" if not columns else
                         f"{table.label()!r} has no column(s) {', '.join(missing)}")
                raise TrackerConfigError(
                    f"app events table: {where}; pass events_table=AppEventsTable(...) "
                    "with the app's names (AppEventsTable.prisma() for Prisma's Event)")
            self._columns[connection] = columns
        return columns

    def _insert(self, target: str | psycopg.Connection, event_uuid: str, distinct_id: str,
                event: str, properties: dict[str, Any], session_id: Any,
                occurred_at: datetime) -> None:
        """One row in the app's events table, with parameters (names quoted)."""
        table = self.events_table
        connection = self._connection(target)
        try:
            columns = self._table_columns(connection)
            created = columns[table.created_at_column].data_type
            json_type = Json if columns[table.properties_column].data_type == "json" else Jsonb
            values: dict[str, sql.Composable] = {}
            params: list[Any] = []

            def value(column: str, param: Any) -> None:
                values[column] = sql.Placeholder()
                params.append(param)

            id_column = columns[table.id_column]
            lock = False
            if not id_column.has_default:
                if id_column.data_type in ("smallint", "integer", "bigint", "numeric"):
                    # no default to draw from: the next id, under a lock so two writers
                    # cannot take the same one
                    values[table.id_column] = sql.SQL(
                        "(select coalesce(max({id}), 0) + 1 from {table})").format(
                        id=sql.Identifier(table.id_column), table=table.identifier())
                    lock = True
                else:
                    value(table.id_column, event_uuid)
            value(table.user_id_column, distinct_id)
            value(table.name_column, event)
            value(table.properties_column, json_type(properties))
            if table.session_id_column:
                value(table.session_id_column, session_id)
            # a timestamp without time zone holds UTC wall time (Prisma's DateTime)
            value(table.created_at_column, occurred_at if "with time zone" in created
                  else occurred_at.replace(tzinfo=None))
            statement = sql.SQL("insert into {table} ({columns}) values ({values})").format(
                table=table.identifier(),
                columns=sql.SQL(", ").join(sql.Identifier(c) for c in values),
                values=sql.SQL(", ").join(values.values()))
            with connection.transaction():
                if lock:
                    connection.execute(sql.SQL("lock table {} in share row exclusive mode")
                                       .format(table.identifier()))
                connection.execute(statement, params)
        except psycopg.Error as error:
            error.add_note(f"while writing {event!r} to the app's events table "
                           f"{table.label()!r}; nothing was sent to PostHog")
            raise


def _move_first_touch(person_set: Mapping[str, Any], set_once: Any,
                      keys: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`$set` without the first-touch keys, and `$set_once` with them (its own value
    winning when it already has the key)."""
    remaining = {k: v for k, v in person_set.items() if k not in keys}
    once = dict(set_once) if isinstance(set_once, Mapping) else {}
    for key in keys:
        once.setdefault(key, person_set[key])
    return remaining, once


# -- the process's default tracker (configured from the environment) -----------------------

_default: Tracker | None = None
_default_lock = threading.Lock()
_close_at_exit = False


def _install(tracker: Tracker) -> Tracker | None:
    """Make `tracker` the process's; returns the one it replaces. Caller holds the lock."""
    global _default, _close_at_exit
    previous, _default = _default, tracker
    if not _close_at_exit:
        atexit.register(close)
        _close_at_exit = True
    return previous


def get_tracker() -> Tracker:
    """The process's tracker, built from the environment on first use and closed (its
    queue sent) at exit."""
    with _default_lock:
        if _default is None:
            _install(Tracker())
        assert _default is not None
        return _default


def configure(**options: Any) -> Tracker:
    """Replace the process's tracker with `Tracker(**options)` (the old one is closed)."""
    tracker = Tracker(**options)
    with _default_lock:
        previous = _install(tracker)
    if previous is not None:
        previous.close()
    return tracker


def track(user_id: str | int, event: str, properties: Mapping[str, Any] | None = None,
          session_id: str | None = None, **options: Any) -> str:
    """`Tracker.track` on the process's tracker."""
    return get_tracker().track(user_id, event, properties, session_id, **options)


def identify(user_id: str | int, anon_id: str | int, set: Mapping[str, Any] | None = None,
             set_once: Mapping[str, Any] | None = None, **options: Any) -> str:
    """`Tracker.identify` on the process's tracker."""
    return get_tracker().identify(user_id, anon_id, set, set_once, **options)


def flush(timeout_seconds: float | None = 10) -> None:
    """Send the process tracker's queued events now."""
    if _default is not None:
        _default.flush(timeout_seconds)


def close() -> None:
    """Send what is queued and close the process's tracker (the next call builds anew)."""
    global _default
    with _default_lock:
        tracker, _default = _default, None
    if tracker is not None:
        tracker.close()
