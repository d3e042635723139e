"""PostHog batch-export files, in the S3 destination's default events model.

Columns in file order (SOURCES.md 1.1): uuid, timestamp, _inserted_at, created_at, event,
properties, distinct_id, elements_chain, person_properties, person_id. JSONL files carry
`properties` / `person_properties` as JSON objects and timestamps as orjson prints them;
Parquet files carry them as JSON text and timestamp(us, UTC).

Files are cut on `_inserted_at` into daily windows named
`{data_interval_start}-{data_interval_end}.jsonl`. A late event (offline client) lands in a
later file than its `timestamp`, and one backfill run re-exports a six-hour window that
the scheduled run already covered, so a few uuids appear twice: PostHog documents both.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from journeys.generator import catalog as cat
from journeys.generator import simulate as sim
from journeys.generator.text import (
    fragment,
    iso_utc,
    join,
    masked,
    take,
    timestamps,
    uuid7_strings,
    write_lines,
)

EXPORT_COLUMNS = (
    "uuid",
    "timestamp",
    "_inserted_at",
    "created_at",
    "event",
    "properties",
    "distinct_id",
    "elements_chain",
    "person_properties",
    "person_id",
)
P_LATE = 0.02  # share of events that reach PostHog hours or days late (offline queues)
LIB_VERSION = "1.187.2"


def _prop_fragments() -> tuple[list[str | None], np.ndarray]:
    """`,"key":value` for every (event, value); base offset of each event's values."""
    fragments: list[str | None] = []
    base = np.full(len(cat.EVENT_TYPES), -1, dtype=np.int64)
    for code, event in enumerate(cat.EVENT_TYPES):
        if not event.props:
            continue
        base[code] = len(fragments)
        ((key, values),) = event.props.items()
        fragments.extend(f',"{key}":{v}' for v in values)
    return fragments, base


PROP_FRAGMENTS, PROP_BASE = _prop_fragments()


def event_property_fragment(code: np.ndarray, value: np.ndarray) -> pa.Array:
    """The event's own property as a JSON fragment (`,"item_type":"project"`) or null."""
    base = PROP_BASE[code]
    has = (base >= 0) & (value >= 0)
    return masked(
        take([*PROP_FRAGMENTS, None], np.where(has, base + value, len(PROP_FRAGMENTS))), has
    )


def _channel_texts():
    utm, query, referrer, domain, set_once = [], [], [], [], []
    for source, medium, campaign, ref_domain, _ in cat.CHANNELS:
        pairs = [("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign)]
        pairs = [(k, v) for k, v in pairs if v]
        utm.append("".join(f',"{k}":"{v}"' for k, v in pairs) or None)
        query.append("?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else None)
        referrer.append("$direct" if ref_domain == "$direct" else f"https://{ref_domain}/")
        domain.append(ref_domain)
        initial = [("$initial_referring_domain", ref_domain)]
        initial += [(f"$initial_{k}", v) for k, v in pairs]
        set_once.append(',"$set_once":{' + ",".join(f'"{k}":"{v}"' for k, v in initial) + "}")
    return utm, query, referrer, domain, set_once


UTM, QUERY, REFERRER, REF_DOMAIN, SET_ONCE = _channel_texts()
DIRECT = next(i for i, c in enumerate(cat.CHANNELS) if c[3] == "$direct")


def client_rows(chunk: sim.Chunk, rng: np.random.Generator) -> tuple[pa.Table, np.ndarray]:
    """Every event posthog-js delivered for this chunk, as export rows sorted by
    `_inserted_at`, plus each row's actor (for the truth)."""
    code = chunk.a_code
    sent = np.asarray(cat.SENT_BY_CLIENT)[code] & (chunk.a_device >= 0)
    device = np.maximum(chunk.a_device, 0)
    sent &= ~chunk.blocked[chunk.a_actor, device]
    idx = np.flatnonzero(sent)
    actor, device, code = chunk.a_actor[idx], device[idx], code[idx]
    value, session, landing = chunk.a_value[idx], chunk.a_session[idx], chunk.a_landing[idx]
    # the browser event follows the server's answer by a fraction of a second
    both = np.asarray(cat.SENT_BY_SERVER)[code]
    ts = chunk.a_ts[idx] + np.where(both, rng.integers(250_000, 1_500_000, len(idx)), 0)
    ts = ts + rng.integers(0, 1000, len(idx))
    late = rng.random(len(idx)) < P_LATE
    lag = np.where(
        late, rng.uniform(1, 72, len(idx)) * sim.HOUR, rng.uniform(0.3, 4.0, len(idx)) * sim.SECOND
    ).astype(np.int64)
    created = ts + lag
    inserted = created + rng.integers(100_000, 2_000_000, len(idx))

    is_user = actor < chunk.n_users
    identified = ts >= chunk.identify_us[actor, device]
    anon = take(chunk.anon_id, actor * 2 + device)
    user_id = np.where(is_user, chunk.user_id[np.minimum(actor, chunk.n_users - 1)], 0)
    user_text = pa.array(user_id.astype(str), type=pa.large_string())
    distinct_id = _choose(identified, user_text, anon)
    person_slot = np.where(identified, actor * 2, actor * 2 + device)
    person_id = take(chunk.person_uuid, person_slot)

    # first delivered event of each device carries the $initial_* person properties
    key = actor * 2 + device
    first = np.zeros(len(idx), bool)
    first[np.unique(key, return_index=True)[1]] = True
    channel = chunk.channel[actor]
    page = current_page(code, value, session)
    host = take([h for h, _ in sim.PAGES], page)
    path = take([p for _, p in sim.PAGES], page)
    ref_channel = np.where(landing, channel, DIRECT)
    email = take([*chunk.email, ""], np.where(is_user, actor, chunk.n_users))
    domain = take(
        [*chunk.company_domain, ""],
        np.where(is_user, chunk.company[np.minimum(actor, chunk.n_users - 1)], chunk.n_companies),
    )
    kind = chunk.device_kind[actor, device]
    is_identify = code == cat.CODE["$identify"]
    is_autocapture = code == cat.CODE["$autocapture"]

    properties = join(
        '{"$session_id":"',
        take(chunk.s_uuid.to_pylist(), session),
        '","$window_id":"',
        take(chunk.s_window.to_pylist(), session),
        '","$device_id":"',
        anon,
        f'","$lib":"web","$lib_version":"{LIB_VERSION}","$browser":"',
        take([d[0] for d in cat.DEVICES], kind),
        '","$os":"',
        take([d[1] for d in cat.DEVICES], kind),
        '","$device_type":"',
        take([d[2] for d in cat.DEVICES], kind),
        '","$current_url":"https://',
        host,
        path,
        masked(take(QUERY, channel), landing),
        '","$pathname":"',
        path,
        '","$host":"',
        host,
        '","$referrer":"',
        take(REFERRER, ref_channel),
        '","$referring_domain":"',
        take(REF_DOMAIN, ref_channel),
        '","$process_person_profile":',
        pa.array(np.where(identified, "true", "false")),
        masked(take(UTM, channel), landing),
        masked(take(SET_ONCE, ref_channel), first),
        masked(fragment(',"$anon_distinct_id":"', anon, '","$set":{"email":"'), is_identify),
        masked(fragment("", email, '"}'), is_identify),
        event_property_fragment(code, value),
        masked(pa.array(np.full(len(idx), ',"$event_type":"click"')), is_autocapture),
        masked(fragment(',"$groups":{"company":"', domain, '"}'), identified & is_user),
        "}",
    )
    person_properties = pc_if(identified & is_user, fragment('{"email":"', email, '"}'), "{}")
    elements = pc_if(
        is_autocapture, take(cat.ELEMENT_CHAINS, np.where(is_autocapture, value, 0)), ""
    )
    table = pa.table(
        {
            "uuid": uuid7_strings(ts, rng),
            "timestamp": timestamps(ts),
            "_inserted_at": timestamps(inserted),
            "created_at": timestamps(created),
            "event": take(cat.NAMES, code),
            "properties": properties,
            "distinct_id": distinct_id,
            "elements_chain": elements,
            "person_properties": person_properties,
            "person_id": person_id,
        }
    )
    order = np.argsort(inserted, kind="stable")
    return table.take(pa.array(order)), actor[order]


def current_page(code: np.ndarray, value: np.ndarray, session: np.ndarray) -> np.ndarray:
    """The page each event happened on: the latest pageview of its session (rows are in
    time order per actor); the session's landing page for events before any pageview."""
    is_view = code == cat.CODE["$pageview"]
    last_view = np.maximum.accumulate(np.where(is_view, np.arange(len(code)), -1))
    same = (last_view >= 0) & (session[np.maximum(last_view, 0)] == session)
    landing = np.full(int(session.max()) + 1 if len(session) else 0, sim.PAGE_SIGNUP, np.int64)
    views = np.flatnonzero(is_view)
    landing[session[views[::-1]]] = value[views[::-1]]  # first view of each session wins
    return np.where(
        is_view, value, np.where(same, value[np.maximum(last_view, 0)], landing[session])
    )


def _choose(condition: np.ndarray, when_true: pa.Array, when_false: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(condition), when_true, when_false)


def pc_if(condition: np.ndarray, when_true: pa.Array, when_false: str) -> pa.Array:
    return pc.if_else(pa.array(condition), when_true, pa.scalar(when_false, pa.large_string()))


def _window_name(start_us: int, end_us: int) -> str:
    def iso(us: int) -> str:
        return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).isoformat()

    return f"{iso(start_us)}-{iso(end_us)}"


class ExportWriter:
    """Streams export rows into one file per `_inserted_at` window across chunks."""

    def __init__(self, out_dir: Path, fmt: str, backfill: tuple[int, int]):
        self.dir = out_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fmt = fmt
        self.backfill = backfill
        self.handles: dict[str, object] = {}
        self.rows = 0
        self.duplicates = 0

    def write(self, table: pa.Table) -> None:
        inserted = table.column("_inserted_at").cast(pa.int64()).to_numpy()
        day = inserted // sim.DAY
        lines = self._lines(table) if self.fmt == "jsonl" else None
        bounds = np.flatnonzero(np.r_[True, day[1:] != day[:-1], True])
        for lo, hi in itertools.pairwise(bounds):
            start = int(day[lo]) * sim.DAY
            self._emit(_window_name(start, start + sim.DAY), table, lines, lo, hi)
        b_lo, b_hi = np.searchsorted(inserted, self.backfill)
        if b_hi > b_lo:
            self.duplicates += int(b_hi - b_lo)
            self._emit(_window_name(*self.backfill), table, lines, int(b_lo), int(b_hi))
        self.rows += len(table) + int(b_hi - b_lo)

    def _emit(self, name: str, table: pa.Table, lines, lo: int, hi: int) -> None:
        if self.fmt == "jsonl":
            handle = self.handles.get(name)
            if handle is None:
                handle = self.handles[name] = open(self.dir / f"{name}.jsonl", "wb")  # noqa: SIM115
            write_lines(handle, lines.slice(lo, hi - lo))
        else:
            writer = self.handles.get(name)
            part = table.slice(lo, hi - lo)
            if writer is None:
                writer = self.handles[name] = pq.ParquetWriter(
                    self.dir / f"{name}.parquet", part.schema, compression="zstd"
                )
            writer.write_table(part)

    @staticmethod
    def _lines(table: pa.Table) -> pa.Array:
        def text(name: str) -> pa.Array:
            return table.column(name).combine_chunks()

        def iso(name: str) -> pa.Array:
            return iso_utc(table.column(name).cast(pa.int64()).to_numpy())

        return join(
            '{"uuid":"',
            text("uuid"),
            '","timestamp":"',
            iso("timestamp"),
            '","_inserted_at":"',
            iso("_inserted_at"),
            '","created_at":"',
            iso("created_at"),
            '","event":"',
            text("event"),
            '","properties":',
            text("properties"),
            ',"distinct_id":"',
            text("distinct_id"),
            '","elements_chain":',
            _json_string(text("elements_chain")),
            ',"person_properties":',
            text("person_properties"),
            ',"person_id":"',
            text("person_id"),
            '"}\n',
        )

    def close(self) -> list[Path]:
        for handle in self.handles.values():
            handle.close()
        suffix = ".jsonl" if self.fmt == "jsonl" else ".parquet"
        return sorted(self.dir / f"{name}{suffix}" for name in self.handles)


def _json_string(values: pa.Array) -> pa.Array:
    """JSON string literal of each value (the element chains hold double quotes)."""
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return join('"', escaped, '"')
