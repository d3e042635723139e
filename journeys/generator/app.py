"""The app's own Postgres tables, `users` and `events`: the server-side truth.

Written as `schema.sql` plus one CSV per table (header row, RFC-4180 quoting, empty
unquoted field = NULL), which `journeys.postgres.load_app_tables` replays into a real
server with COPY. Timestamps are `timestamp(3) without time zone` holding UTC, as a
Prisma-managed table stores them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from journeys.generator import catalog as cat
from journeys.generator import simulate as sim
from journeys.generator.text import masked, take

SCHEMA_SQL = """\
-- The app's tables as its backend creates them (UTC stored without a time zone).
create table if not exists users (
    id bigint primary key,
    email text not null,
    signed_up_at timestamp(3) not null,
    plan text not null,
    converted_at timestamp(3),
    churned boolean not null default false,
    churned_at timestamp(3),
    updated_at timestamp(3) not null
);

create table if not exists events (
    id bigint primary key,
    user_id bigint not null references users (id),
    name text not null,
    properties jsonb not null default '{}',
    session_id text,
    created_at timestamp(3) not null
);

create index if not exists events_created_at_idx on events (created_at);
create index if not exists events_user_id_idx on events (user_id);
"""

PLANS = ("trial", "pro", "team")


def _server_properties() -> tuple[list[str], np.ndarray]:
    objects: list[str] = []
    base = np.full(len(cat.EVENT_TYPES), -1, dtype=np.int64)
    for code, event in enumerate(cat.EVENT_TYPES):
        if event.props:
            base[code] = len(objects)
            ((key, values),) = event.props.items()
            objects.extend(f'{{"{key}":{v}}}' for v in values)
    return objects, base


SERVER_PROPS, SERVER_PROP_BASE = _server_properties()


def _ms(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, np.int64) // 1000, pa.int64()).cast(pa.timestamp("ms"))


def _ms_or_null(us: np.ndarray) -> pa.Array:
    valid = np.asarray(us) < sim.NEVER
    return pa.array(np.where(valid, us, 0) // 1000, pa.int64(), mask=~valid).cast(
        pa.timestamp("ms")
    )


def server_rows(chunk: sim.Chunk, first_event_id: int) -> tuple[pa.Table, np.ndarray]:
    """The chunk's rows of the `events` table (ids continue from `first_event_id`)."""
    sent = np.asarray(cat.SENT_BY_SERVER)[chunk.a_code] & (chunk.a_actor < chunk.n_users)
    idx = np.flatnonzero(sent)
    idx = idx[np.argsort(chunk.a_ts[idx], kind="stable")]
    actor, code, value = chunk.a_actor[idx], chunk.a_code[idx], chunk.a_value[idx]
    session, device = chunk.a_session[idx], chunk.a_device[idx]
    base = SERVER_PROP_BASE[code]
    has = (base >= 0) & (value >= 0)
    props = take([*SERVER_PROPS, "{}"], np.where(has, base + value, len(SERVER_PROPS)))
    # the backend sees the browser's PostHog session id only when posthog-js runs there
    tracked = (session >= 0) & ~chunk.blocked[actor, np.maximum(device, 0)]
    session_text = masked(take(chunk.s_uuid.to_pylist(), np.maximum(session, 0)), tracked)
    table = pa.table(
        {
            "id": pa.array(first_event_id + np.arange(len(idx), dtype=np.int64)),
            "user_id": pa.array(chunk.user_id[actor]),
            "name": take(cat.NAMES, code),
            "properties": props,
            "session_id": session_text,
            "created_at": _ms(chunk.a_ts[idx]),
        }
    )
    return table, idx


def users_table(chunk: sim.Chunk, end_us: int, blank: np.ndarray | None = None) -> pa.Table:
    """One row per user, as the table stands at the data's end. Users where `blank` is
    true have no email and no signed_up_at (the customer's data-quality defects)."""
    blank = np.zeros(chunk.n_users, dtype=bool) if blank is None else np.asarray(blank)
    converted = chunk.converted_us < sim.NEVER
    churned = chunk.churned_us < sim.NEVER
    trial_over = chunk.signup_us + sim.TRIAL_DAYS * sim.DAY <= end_us
    plan = np.where(converted, chunk.plan, 0)
    plan_text = take([*PLANS, "free"], np.where(~converted & trial_over, len(PLANS), plan))
    updated = np.maximum.reduce(
        [
            chunk.signup_us,
            np.where(converted, chunk.converted_us, 0),
            np.where(churned, chunk.churned_us, 0),
            np.where(~converted & trial_over, chunk.signup_us + sim.TRIAL_DAYS * sim.DAY, 0),
        ]
    )
    return pa.table(
        {
            "id": pa.array(chunk.user_id),
            "email": pa.array(chunk.email, mask=blank),
            "signed_up_at": _ms_or_null(np.where(blank, sim.NEVER, chunk.signup_us)),
            "plan": plan_text,
            "converted_at": _ms_or_null(chunk.converted_us),
            "churned": pa.array(churned),
            "churned_at": _ms_or_null(chunk.churned_us),
            "updated_at": _ms(updated),
        }
    )


def schema_sql(nullable_signup: bool = False) -> str:
    """The tables' DDL; `nullable_signup` lets a user row lack its email and signup time
    (an app whose data has such rows must allow them)."""
    if not nullable_signup:
        return SCHEMA_SQL
    return (SCHEMA_SQL.replace("    email text not null,", "    email text,")
            .replace("    signed_up_at timestamp(3) not null,", "    signed_up_at timestamp(3),"))


class AppWriter:
    """Appends each chunk's rows to `users.csv` and `events.csv`."""

    def __init__(self, out_dir: Path, nullable_signup: bool = False):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "schema.sql").write_text(schema_sql(nullable_signup))
        self.users = open(out_dir / "users.csv", "wb")  # noqa: SIM115
        self.events = open(out_dir / "events.csv", "wb")  # noqa: SIM115
        self.wrote_header = {"users": False, "events": False}
        self.next_event_id = 1
        self.user_rows = 0
        self.event_rows = 0
        self.blanked_users = 0

    def _append(self, name: str, handle, table: pa.Table) -> None:
        options = pacsv.WriteOptions(include_header=not self.wrote_header[name])
        pacsv.write_csv(table, handle, write_options=options)
        self.wrote_header[name] = True

    def write(self, chunk: sim.Chunk, end_us: int, blank: np.ndarray | None = None
              ) -> tuple[pa.Table, np.ndarray]:
        """Append the chunk (users where `blank` is true without email and signup time);
        returns its events rows and their action indices."""
        users = users_table(chunk, end_us, blank)
        self.blanked_users += 0 if blank is None else int(np.count_nonzero(blank))
        self._append("users", self.users, users)
        events, idx = server_rows(chunk, self.next_event_id)
        self._append("events", self.events, events)
        self.next_event_id += len(events)
        self.user_rows += len(users)
        self.event_rows += len(events)
        return events, idx

    def close(self) -> None:
        self.users.close()
        self.events.close()
