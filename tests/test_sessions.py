"""Sessions (SEMANTICS.md, Sessions) in `marts.fct_sessions` against a plain-Python
sessioniser that reads the generated raw files through tests/reference.py.

The population is the app users' events, which the reference maps to persons on its own
(`Generated.user_of`: the user id itself, or an anonymous id identified as the user). Every
number below is worked out from the files, never read back from the warehouse.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import duckdb
import pytest

from journeys.paths import DataDir
from tests.reference import Generated

GAP = dt.timedelta(minutes=30)  # dbt_project.yml's session_gap_minutes


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    event_id: str
    name: str
    referring_domain: str | None = None
    utm: tuple[str | None, str | None, str | None] = (None, None, None)
    counted: bool = True  # False: a PostHog copy of an app event (counted with the app's)

    @property
    def is_touch(self) -> bool:
        return bool(self.referring_domain) or any(self.utm)


@dataclass(frozen=True)
class Session:
    """What the reference and the warehouse both say about one session."""

    started_at: dt.datetime
    events: int
    duration_seconds: float
    entry_event_name: str
    exit_event_name: str
    first_touch: tuple[str | None, ...]


def query(data: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        return con.execute(sql).fetchall()


def posthog_event(row: dict, counted: bool = True) -> Event:
    props = row["properties"]
    return Event(
        at=row["ts"],
        event_id=row["uuid"],
        name=row["event"],
        referring_domain=props.get("$referring_domain"),
        utm=(props.get("utm_source"), props.get("utm_medium"), props.get("utm_campaign")),
        counted=counted,
    )


def summarise(events: list[Event]) -> Session:
    events = sorted(events, key=lambda e: (e.at, e.event_id))  # event ids are ASCII
    touch = next((e for e in events if e.is_touch), None)
    return Session(
        started_at=events[0].at,
        events=sum(e.counted for e in events),
        duration_seconds=(events[-1].at - events[0].at).total_seconds(),
        entry_event_name=events[0].name,
        exit_event_name=events[-1].name,
        first_touch=(touch.referring_domain, *touch.utm) if touch else (None, None, None, None),
    )


def split_by_gap(events: list[Event], gap: dt.timedelta = GAP) -> list[list[Event]]:
    """A person's events in (time, event id) order, cut wherever the next event comes
    more than `gap` after the one before."""
    runs: list[list[Event]] = []
    for event in sorted(events, key=lambda e: (e.at, e.event_id)):
        if runs and event.at - runs[-1][-1].at <= gap:
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


def reference_sessions(ref: Generated) -> dict[tuple[str, str], list[Session]]:
    """(app user, session kind) -> that user's sessions, sorted."""
    by_session_id: dict[tuple[str, str], list[Event]] = defaultdict(list)
    timeline: dict[str, list[Event]] = defaultdict(list)
    for row in ref.export_events.values():
        user = ref.user_of(row["distinct_id"])
        if user is None:
            continue
        session_id = row["properties"].get("$session_id")
        event = posthog_event(row, counted=row["uuid"] not in ref.copies)
        if session_id:
            by_session_id[(user, session_id)].append(event)
        else:
            timeline[user].append(event)
    for row in ref.app_events:
        timeline[row["user_id"]].append(Event(row["created_at"], f"app-{row['id']}", row["name"]))

    out: dict[tuple[str, str], list[Session]] = defaultdict(list)
    for (user, _), events in by_session_id.items():
        out[(user, "posthog")].append(summarise(events))
    for user, events in timeline.items():
        out[(user, "inactivity")].extend(summarise(run) for run in split_by_gap(events))
    return {key: sorted(sessions, key=lambda s: s.started_at) for key, sessions in out.items()}


def warehouse_sessions(data: DataDir, users: set[str]) -> dict[tuple[str, str], list[Session]]:
    rows = query(
        data,
        "select person_id, session_kind, started_at, events, duration_seconds, "
        "entry_event_name, exit_event_name, referring_domain, utm_source, utm_medium, "
        "utm_campaign from marts.fct_sessions",
    )
    out: dict[tuple[str, str], list[Session]] = defaultdict(list)
    for person, kind, started, events, duration, entry, exit_, *touch in rows:
        if person in users:
            out[(person, kind)].append(
                Session(started, events, duration, entry, exit_, tuple(touch))
            )
    return {key: sorted(sessions, key=lambda s: s.started_at) for key, sessions in out.items()}


@pytest.fixture(scope="module")
def both(warehouse) -> tuple[dict, dict]:
    data, ref = warehouse
    return reference_sessions(ref), warehouse_sessions(data, set(ref.users))


def test_split_by_gap_keeps_an_exact_gap_and_cuts_a_longer_one() -> None:
    start = dt.datetime(2026, 5, 1, 23, 40, tzinfo=dt.UTC)
    events = [
        Event(start, "a", "x"),
        Event(start + GAP, "b", "x"),  # exactly 30 minutes (and past midnight): continues
        Event(start + 2 * GAP + dt.timedelta(seconds=1), "c", "x"),  # 30 min 1 s: new
    ]
    assert [[e.event_id for e in run] for run in split_by_gap(events)] == [["a", "b"], ["c"]]


def test_app_users_have_the_reference_number_of_sessions(both) -> None:
    expected, built = both
    for kind in ("posthog", "inactivity"):
        want = sum(len(s) for (_, k), s in expected.items() if k == kind)
        got = sum(len(s) for (_, k), s in built.items() if k == kind)
        assert want > 0, f"the generated data has no {kind} sessions of app users"
        assert got == want, kind
    # the inactivity gap really cut somewhere: some user has several inactivity sessions
    assert any(len(s) > 1 for (_, k), s in expected.items() if k == "inactivity")


def test_every_app_user_session_matches_the_reference(both) -> None:
    expected, built = both
    assert built.keys() == expected.keys()
    for key, sessions in expected.items():
        got = built[key]
        assert [(s.started_at, s.events) for s in got] == [
            (s.started_at, s.events) for s in sessions
        ], key
        assert [s.duration_seconds for s in got] == pytest.approx(
            [s.duration_seconds for s in sessions], abs=1e-6
        ), key
        assert [(s.entry_event_name, s.exit_event_name) for s in got] == [
            (s.entry_event_name, s.exit_event_name) for s in sessions
        ], key
        assert [s.first_touch for s in got] == [s.first_touch for s in sessions], key


def test_every_event_is_in_exactly_one_session(warehouse) -> None:
    data, ref = warehouse
    (in_sessions,) = query(data, "select sum(events) from marts.fct_sessions")[0]
    # a session counts its events once each: PostHog copies of app events are not counted
    assert in_sessions == len(ref.export_events) + len(ref.app_events) - len(ref.copies)
    assert query(data, "select count(*) from intermediate.int_events__sessionized") == [
        (len(ref.export_events) + len(ref.app_events),)]
    assert query(
        data,
        "select count(*) from intermediate.int_events__sessionized as events "
        "left join marts.fct_sessions as sessions on events.session_id = sessions.session_id "
        "where sessions.session_id is null or events.person_id <> sessions.person_id",
    ) == [(0,)]
