"""Segments (issue 16): dim_person_segments, fct_segment_history and
fct_segment_transitions on real builds, fed through the real pipelines (app dumps and a
PostHog export).

- Hand cases: persons whose numbers are worked out by hand in the comments below: exactly
  7 and 8 days since active, exactly 100 and 99 lifetime events (a PostHog copy and a `$`
  event not counted), 14/15 and 30/31 days, weeks with no events, churned beating
  champion, a person without events, an anonymous product user, and the as_of_date var.
  The plain-Python reference (tests/segments_reference.py) must give them too.
- Property test: batches of >= 200 random persons on a time grid that hits day and week
  boundaries exactly, one dbt build per batch, the three marts compared with the
  reference for three sets of vars (defaults; small thresholds; small thresholds with an
  unreachable segment and an as_of_date).
- A bad segments / as_of_date var stops dbt at compile time with a message naming it.
- PostgreSQL gives the hand numbers; the generated warehouse with every source (CRM
  touchpoints, PostHog copies) agrees with the reference; the demo recovers truth.json's
  segment counts exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import tempfile
from pathlib import Path

import duckdb
import psycopg
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from journeys.dbt import run_dbt, target_dir
from journeys.paths import DataDir
from tests.segments_reference import NEW, Event, Person, Segment, history, segments, transitions
from tests.test_retention import Sources, at, ingest

MARTS = ("fct_segment_history", "dim_person_segments", "fct_segment_transitions")  # dbt order

Dim = dict[str, Segment]
History = dict[tuple[str, dt.date], Segment]
Moves = dict[tuple[dt.date, str, str], int]


def build(data: DataDir, variables: dict | None = None, *, first: bool = False,
          tests: bool = True) -> None:
    """The first build makes every model the marts need; a rebuild with other vars makes
    the three marts again. With `tests`, the data and unit tests of what it built run."""
    args = ["--select", " ".join("+" + m for m in MARTS) if first else " ".join(MARTS)]
    args += ["--indirect-selection", "cautious"] if tests else [
        "--exclude-resource-type", "test", "unit_test"]
    if variables:
        args += ["--vars", json.dumps(variables)]
    result = run_dbt(data, "build", args, quiet=True)
    assert result.ok, f"dbt build failed with vars {variables}: {result.statuses}"


def read_marts(con, aliases: dict[str, str] | None = None) -> tuple[Dim, History, Moves]:
    """The three marts as the reference's shapes; `aliases` renames person_ids (an
    anonymous person's `anon-...` id -> the distinct_id the test knows them by)."""
    aliases = aliases or {}
    dim = {aliases.get(r[0], r[0]): Segment(*r[1:]) for r in con.execute(
        "select person_id, as_of_date, segment, lifetime_events, events_last_30d, "
        "days_since_active from marts.dim_person_segments").fetchall()}
    weeks = {(aliases.get(r[0], r[0]), r[1]): Segment(*r[2:]) for r in con.execute(
        "select person_id, week, as_of_date, segment, lifetime_events, events_last_30d, "
        "days_since_active from marts.fct_segment_history").fetchall()}
    moves = {(r[0], r[1], r[2]): r[3] for r in con.execute(
        "select week, from_segment, to_segment, persons "
        "from marts.fct_segment_transitions").fetchall()}
    return dim, weeks, moves


def read_duckdb(data: DataDir) -> tuple[Dim, History, Moves]:
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        aliases = dict(con.execute(
            "select distinct person_id, distinct_id from marts.fct_events "
            "where person_id like 'anon-%'").fetchall())
        return read_marts(con, aliases)


def differences(got: dict, expected: dict, limit: int = 6) -> list:
    keys = sorted(set(got) | set(expected), key=str)
    return [(key, got.get(key), expected.get(key)) for key in keys
            if got.get(key) != expected.get(key)][:limit]


class Compiled:
    """The three marts' SQL as dbt compiles it for a set of vars, compiled once per set,
    then run on any warehouse into the marts' version-1 tables (which the compiled SQL
    refs): a dbt rebuild per set and batch would cost a full parse each time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sql: dict[str, list[tuple[str, str]]] = {}

    def of(self, variables: dict) -> list[tuple[str, str]]:
        key = json.dumps(variables, sort_keys=True)
        if key not in self.sql:
            data = DataDir(self.folder / f"vars-{len(self.sql)}").ensure()
            result = run_dbt(data, "compile", ["--select", " ".join(MARTS), "--vars", key],
                             quiet=True)
            assert result.ok, f"dbt compile failed with vars {variables}"
            compiled = target_dir(data) / "compiled" / "journeys" / "models" / "marts"
            self.sql[key] = [(m, (compiled / "segments" / f"{m}.sql").read_text())
                             for m in MARTS]
        return self.sql[key]

    def run(self, data: DataDir, variables: dict) -> None:
        with duckdb.connect(str(data.warehouse_db)) as con:
            con.execute("set TimeZone = 'UTC'")
            for model, sql in self.of(variables):
                con.execute(f"create or replace table marts.{model}_v1 as {sql}")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    return Compiled(tmp_path_factory.mktemp("segments-compiled"))


# -- hand cases -----------------------------------------------------------------------------
def burst(person: str, count: int, day: str, name: str = "file_uploaded") -> list[Event]:
    """`count` app events of a person on one day, a minute apart from 08:00."""
    start = at(f"{day} 08:00")
    return [Event(person, name, start + dt.timedelta(minutes=i)) for i in range(count)]


def posthog(person: str, name: str, when: str) -> Event:
    return Event(person, name, at(when), "posthog")


# Weeks start on Mondays: ..., 02-16, 02-23, 03-02, 03-09, 03-16, 03-23, 03-30 (2026, not a
# leap year: 02-28 is 31 days before 03-31, 03-01 is 30). The data's end is hundred's last
# event, 2026-03-31 12:00 (a Tuesday): the as-of day is 03-31.
HAND = Sources(
    persons=[
        Person("seven", signed_up_at=at("2026-03-10 08:00")),
        Person("eight", signed_up_at=at("2026-03-10 08:00")),
        Person("hundred", signed_up_at=at("2026-03-10 08:00")),
        Person("ninety_nine", signed_up_at=at("2026-03-10 08:00")),
        # converted, then churned on the as-of day: churned
        Person("churned_champ", signed_up_at=at("2026-03-20 08:00"),
               converted_at=at("2026-03-22 09:00"), churned_at=at("2026-03-31 08:00")),
        Person("quiet", signed_up_at=at("2026-02-23 09:00")),
        Person("at_risk_30", signed_up_at=at("2026-02-20 09:00")),
        Person("dormant_31", signed_up_at=at("2026-02-20 09:00")),
        Person("active_14", signed_up_at=at("2026-03-02 09:00")),
        Person("at_risk_15", signed_up_at=at("2026-03-02 09:00")),
        Person("no_events", signed_up_at=at("2026-03-25 09:00")),  # a users row, no event
    ],
    app_events=[
        # 99 on 03-10 and the 100th at the last instant of 03-24, exactly 7 days before
        *burst("seven", 99, "2026-03-10"),
        Event("seven", "report_generated", at("2026-03-24 23:59:59.999")),
        # the same, the 100th at the last instant of 03-23: 8 days
        *burst("eight", 99, "2026-03-10"),
        Event("eight", "report_generated", at("2026-03-23 23:59:59.999")),
        # 97 + an upload on 03-25 (its PostHog copy below is not counted) + PostHog's
        # feature_used on 03-26 + this last report = exactly 100 (the `$pageview` is not one)
        *burst("hundred", 97, "2026-03-10"),
        Event("hundred", "file_uploaded", at("2026-03-25 10:00")),
        Event("hundred", "report_generated", at("2026-03-31 12:00")),  # the data's end
        # the same with 96: 99
        *burst("ninety_nine", 96, "2026-03-10"),
        Event("ninety_nine", "file_uploaded", at("2026-03-25 10:00")),
        Event("ninety_nine", "report_generated", at("2026-03-31 11:00")),
        # 100 events, the last a day before the as-of day: a champion, but churned
        *burst("churned_champ", 99, "2026-03-20"),
        Event("churned_champ", "report_generated", at("2026-03-30 10:00")),
        # two weeks without an event (03-02 and 03-09), then one on 03-19
        Event("quiet", "signed_up", at("2026-02-23 09:00")),
        Event("quiet", "file_uploaded", at("2026-03-19 09:00")),
        Event("at_risk_30", "file_uploaded", at("2026-03-01 09:00")),
        Event("dormant_31", "file_uploaded", at("2026-02-28 09:00")),
        *burst("active_14", 5, "2026-03-17"),
        *burst("at_risk_15", 5, "2026-03-16"),
    ],
    posthog_events=[
        posthog("hundred", "file_uploaded", "2026-03-25 10:00:01"),  # the copy
        posthog("hundred", "feature_used", "2026-03-26 10:00"),  # client side only: counted
        posthog("hundred", "$pageview", "2026-03-27 10:00"),  # PostHog's own: not product use
        posthog("ninety_nine", "file_uploaded", "2026-03-25 10:00:01"),
        posthog("ninety_nine", "feature_used", "2026-03-26 10:00"),
        posthog("ninety_nine", "$pageview", "2026-03-27 10:00"),
    ],
    anonymous_events=[
        ("visitor-1", "$pageview", at("2026-03-28 10:00")),  # only `$`: not in the population
        ("visitor-2", "feature_used", at("2026-03-20 10:00")),  # product use, never signed up
    ],
)


def seg(day: str, segment: str, lifetime: int, last_30d: int, days: int | None) -> Segment:
    return Segment(dt.date.fromisoformat(day), segment, lifetime, last_30d, days)


DIM_BY_HAND: Dim = {
    "seven": seg("2026-03-31", "champion", 100, 100, 7),  # exactly 7 days
    "eight": seg("2026-03-31", "power_user", 100, 100, 8),  # 8 days: >= 30 and <= 14
    "hundred": seg("2026-03-31", "champion", 100, 100, 0),  # exactly 100
    "ninety_nine": seg("2026-03-31", "power_user", 99, 99, 0),
    "churned_champ": seg("2026-03-31", "churned", 100, 100, 1),  # churned beats champion
    # 02-23 is 36 days back (not in the last 30 days), 03-19 12
    "quiet": seg("2026-03-31", "active", 2, 1, 12),
    "at_risk_30": seg("2026-03-31", "at_risk", 1, 1, 30),  # 03-01: 30 days, in the 30d count
    "dormant_31": seg("2026-03-31", "dormant", 1, 0, 31),  # 02-28: 31 days, out of it
    "active_14": seg("2026-03-31", "active", 5, 5, 14),
    "at_risk_15": seg("2026-03-31", "at_risk", 5, 5, 15),
    "no_events": seg("2026-03-31", "dormant", 0, 0, None),
    "visitor-2": seg("2026-03-31", "active", 1, 1, 11),
}

# as_of_date 2026-03-24: later events and churn do not count; no_events signs up after it
AS_OF = "2026-03-24"
AS_OF_BY_HAND: Dim = {
    "seven": seg(AS_OF, "champion", 100, 100, 0),  # its 100th at 03-24 23:59:59.999 counts
    "eight": seg(AS_OF, "champion", 100, 100, 1),
    "hundred": seg(AS_OF, "power_user", 97, 97, 14),
    "ninety_nine": seg(AS_OF, "power_user", 96, 96, 14),
    "churned_champ": seg(AS_OF, "power_user", 99, 99, 4),  # churns on 03-31, after
    "quiet": seg(AS_OF, "active", 2, 2, 5),  # 02-23 is 29 days before 03-24
    "at_risk_30": seg(AS_OF, "at_risk", 1, 1, 23),
    "dormant_31": seg(AS_OF, "at_risk", 1, 1, 24),
    "active_14": seg(AS_OF, "active", 5, 5, 7),
    "at_risk_15": seg(AS_OF, "active", 5, 5, 8),
    "visitor-2": seg(AS_OF, "active", 1, 1, 4),
}


def week(day: str) -> dt.date:
    return dt.date.fromisoformat(day)


# quiet, week by week (evaluated on Sundays; the as-of week on 03-31)
QUIET_BY_HAND: History = {
    ("quiet", week("2026-02-23")): seg("2026-03-01", "active", 1, 1, 6),
    ("quiet", week("2026-03-02")): seg("2026-03-08", "active", 1, 1, 13),  # no event
    ("quiet", week("2026-03-09")): seg("2026-03-15", "at_risk", 1, 1, 20),  # no event
    ("quiet", week("2026-03-16")): seg("2026-03-22", "active", 2, 2, 3),
    ("quiet", week("2026-03-23")): seg("2026-03-29", "active", 2, 1, 10),  # 02-23 is 34 back
    ("quiet", week("2026-03-30")): seg("2026-03-31", "active", 2, 1, 12),
}
CHURNED_BY_HAND: History = {
    ("churned_champ", week("2026-03-16")): seg("2026-03-22", "power_user", 99, 99, 2),
    ("churned_champ", week("2026-03-23")): seg("2026-03-29", "power_user", 99, 99, 9),
    ("churned_champ", week("2026-03-30")): seg("2026-03-31", "churned", 100, 100, 1),
}

# week 03-30, from the segments as of Sunday 03-29 (seven: 5 days -> champion; eight: 6 ->
# champion; hundred: 99 events -> power_user; ninety_nine: 98; churned_champ: 99, 9 days;
# at_risk_30: 28 days; dormant_31: 29 -> at_risk; active_14: 12; at_risk_15: 13 -> active;
# quiet: 10; visitor-2: 9 -> active; no_events: dormant) to those of DIM_BY_HAND
LAST_WEEK_BY_HAND: Moves = {
    (week("2026-03-30"), "champion", "champion"): 1,  # seven
    (week("2026-03-30"), "champion", "power_user"): 1,  # eight
    (week("2026-03-30"), "power_user", "champion"): 1,  # hundred reaches 100
    (week("2026-03-30"), "power_user", "power_user"): 1,  # ninety_nine
    (week("2026-03-30"), "power_user", "churned"): 1,  # churned_champ
    (week("2026-03-30"), "active", "active"): 3,  # quiet, active_14, visitor-2
    (week("2026-03-30"), "active", "at_risk"): 1,  # at_risk_15
    (week("2026-03-30"), "at_risk", "at_risk"): 1,  # at_risk_30
    (week("2026-03-30"), "at_risk", "dormant"): 1,  # dormant_31
    (week("2026-03-30"), "dormant", "dormant"): 1,  # no_events
}
# the first week: at_risk_30 and dormant_31 signed up on Friday 02-20, no event by 02-22
FIRST_WEEK_BY_HAND: Moves = {(week("2026-02-16"), NEW, "dormant"): 2}


def hand_events() -> list[Event]:
    """The hand data as the event stream: the PostHog copies marked as not counted."""
    copies = {("hundred", "file_uploaded"), ("ninety_nine", "file_uploaded")}
    return [*HAND.app_events,
            *(Event(e.person_id, e.name, e.occurred_at, "posthog",
                    (e.person_id, e.name) not in copies) for e in HAND.posthog_events),
            *(Event(who, name, when, "posthog") for who, name, when in HAND.anonymous_events)]


def of_week(moves: Moves, day: dt.date) -> Moves:
    return {key: n for key, n in moves.items() if key[0] == day}


def test_the_reference_gives_the_hand_numbers() -> None:
    events = hand_events()
    assert segments(HAND.persons, events) == DIM_BY_HAND
    assert segments(HAND.persons, events, as_of=dt.date.fromisoformat(AS_OF)) == AS_OF_BY_HAND
    weeks = history(HAND.persons, events)
    assert {k: v for k, v in weeks.items() if k[0] == "quiet"} == QUIET_BY_HAND
    assert {k: v for k, v in weeks.items() if k[0] == "churned_champ"} == CHURNED_BY_HAND
    moves = transitions(weeks)
    assert of_week(moves, week("2026-03-30")) == LAST_WEEK_BY_HAND
    assert of_week(moves, week("2026-02-16")) == FIRST_WEEK_BY_HAND


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    data = DataDir(tmp_path_factory.mktemp("segments-hand")).ensure()
    ingest(data, HAND)
    build(data, first=True)
    return data


def test_segments_by_hand(hand: DataDir) -> None:
    dim, weeks, moves = read_duckdb(hand)
    assert dim == DIM_BY_HAND, differences(dim, DIM_BY_HAND)
    assert {k: v for k, v in weeks.items() if k[0] == "quiet"} == QUIET_BY_HAND
    assert {k: v for k, v in weeks.items() if k[0] == "churned_champ"} == CHURNED_BY_HAND
    assert of_week(moves, week("2026-03-30")) == LAST_WEEK_BY_HAND
    assert of_week(moves, week("2026-02-16")) == FIRST_WEEK_BY_HAND
    # and every other row is the reference's
    expected = history(HAND.persons, hand_events())
    assert weeks == expected, differences(weeks, expected)
    assert moves == transitions(expected)


def test_the_as_of_date_var_by_hand(hand: DataDir, tmp_path: Path) -> None:
    """Rebuilt by dbt with as_of_date 2026-03-24 (the marts' data tests run on these rows
    too): the hand numbers, and the history ends with the week of 03-23, evaluated on
    03-24. Then back to the default."""
    try:
        build(hand, {"as_of_date": AS_OF})
        dim, weeks, moves = read_duckdb(hand)
        assert dim == AS_OF_BY_HAND, differences(dim, AS_OF_BY_HAND)
        assert max(w for _, w in weeks) == week("2026-03-23")
        assert {s.as_of_date for (_, w), s in weeks.items() if w == week("2026-03-23")} == {
            dt.date.fromisoformat(AS_OF)}
        expected = history(HAND.persons, hand_events(), as_of=dt.date.fromisoformat(AS_OF))
        assert weeks == expected, differences(weeks, expected)
        assert moves == transitions(expected)
    finally:
        build(hand, tests=False)


# -- the same hand cases on PostgreSQL --------------------------------------------------------
def test_postgres_gives_the_hand_numbers(hand: DataDir, postgres: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand data's raw tables copied into a real PostgreSQL (pgserver) and built there
    by dbt: the same hand numbers (window frames over day numbers, date casts)."""
    from tests.test_engines import copy_raw_tables, create_database, target_env

    dsn = create_database(postgres, "segments_hand")
    assert copy_raw_tables(hand.raw_db, dsn, tmp_path) > 0
    target_env(postgres, "segments_hand", monkeypatch)
    build(DataDir(tmp_path / "pg").ensure(), first=True)
    with psycopg.connect(dsn) as con:
        aliases = dict(con.execute(
            "select distinct person_id, distinct_id from marts.fct_events "
            "where person_id like 'anon-%'").fetchall())
        dim, weeks, moves = read_marts(con, aliases)
    assert dim == DIM_BY_HAND, differences(dim, DIM_BY_HAND)
    expected = history(HAND.persons, hand_events())
    assert weeks == expected, differences(weeks, expected)
    assert moves == transitions(expected)


# -- a bad var ------------------------------------------------------------------------------
GOOD = {"champion_min_events": 100, "champion_max_days": 7, "power_user_min_events": 30,
        "power_user_max_days": 14, "active_max_days": 14, "at_risk_max_days": 30}


@pytest.mark.parametrize(("variables", "message"), [
    ({"segments": {**GOOD, "champion_min_event": 100}},
     "var segments has an unknown key champion_min_event"),
    ({"segments": {**GOOD, "champion_max_days": -1}},
     "var segments.champion_max_days must be a whole number >= 0"),
    ({"segments": {**GOOD, "power_user_min_events": 7.5}},
     "var segments.power_user_min_events must be a whole number >= 0"),
    ({"segments": {**GOOD, "at_risk_max_days": True}},
     "var segments.at_risk_max_days must be a whole number >= 0"),
    ({"segments": {k: v for k, v in GOOD.items() if k != "at_risk_max_days"}},
     "var segments has no at_risk_max_days"),
    ({"segments": [100, 7]}, "var segments must be a map"),
    ({"as_of_date": "2026-02-30"}, "var as_of_date must be null or a date YYYY-MM-DD"),
    ({"as_of_date": "last week"}, "var as_of_date must be null or a date YYYY-MM-DD"),
])
def test_a_bad_segments_var_fails_at_compile_time_naming_it(
        tmp_path: Path, capfd: pytest.CaptureFixture, variables: dict, message: str) -> None:
    result = run_dbt(DataDir(tmp_path).ensure(), "parse", ["--vars", json.dumps(variables)])
    assert not result.ok
    assert message in capfd.readouterr().out


# -- property test: random batches against the reference --------------------------------------
ORIGIN = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # a Monday
GRID_DAYS = 63  # nine weeks of random events; the closing instant lies after them
WITHIN_DAY = (dt.timedelta(0), dt.timedelta(milliseconds=1), dt.timedelta(hours=12),
              dt.timedelta(days=1, milliseconds=-1))
POINTS = GRID_DAYS * len(WITHIN_DAY)
CASES = 200  # persons per batch
# (source, name): app events, a client-only PostHog event (counted; PostHog and app never
# share a name here, so nothing pairs as a copy), PostHog's own `$pageview` (not product)
KINDS = (("app", "file_uploaded"), ("app", "report_generated"), ("posthog", "feature_used"),
         ("posthog", "$pageview"))
SMALL = {"champion_min_events": 6, "champion_max_days": 7, "power_user_min_events": 3,
         "power_user_max_days": 14, "active_max_days": 10, "at_risk_max_days": 30}
# power_user is unreachable (champion takes >= 3 events within 10 days first) and so is
# at_risk (5 < active's 7): allowed, those segments stay empty
UNREACHABLE = {"champion_min_events": 3, "champion_max_days": 10, "power_user_min_events": 3,
               "power_user_max_days": 7, "active_max_days": 7, "at_risk_max_days": 5}
RUNS = ({}, {"segments": SMALL},
        {"segments": UNREACHABLE, "as_of_date": "2024-02-07"})  # a Wednesday in the grid
# the data's end, after every random point: a Monday 00:00, the Sunday's last instant
# before it, a Wednesday, or an app account change (a churn) at the Monday
CLOSINGS = ("monday", "sunday_end", "wednesday", "churn")


def on_grid(point: int) -> dt.datetime:
    """Day point // 4 of the grid at 00:00, 00:00.001, 12:00 or 23:59:59.999."""
    return ORIGIN + dt.timedelta(days=point // len(WITHIN_DAY)) + WITHIN_DAY[
        point % len(WITHIN_DAY)]


def batch_sources(cases: list, closing: str) -> tuple[Sources, list[Person], list[Event]]:
    """Case i is app user `u<i>` (signup, churn, events on the grid); a closer user
    `zz` holds the data's end. Also the reference's persons and events."""
    sources = Sources()
    events: list[Event] = []
    for i, (signup, churn, picks) in enumerate(cases):
        person_id = f"u{i:03d}"
        sources.persons.append(Person(
            person_id, signed_up_at=None if signup < 0 else on_grid(signup),
            churned_at=None if churn < 0 else on_grid(churn)))
        for pick in picks:
            kind, point = divmod(pick, POINTS)
            source, name = KINDS[kind]
            event = Event(person_id, name, on_grid(point), source)
            (sources.app_events if source == "app" else sources.posthog_events).append(event)
            events.append(event)
    monday = ORIGIN + dt.timedelta(days=GRID_DAYS)
    instant = {"monday": monday, "sunday_end": monday - dt.timedelta(milliseconds=1),
               "wednesday": monday + dt.timedelta(days=2, hours=12), "churn": monday}[closing]
    if closing == "churn":
        sources.persons.append(Person("zz", signed_up_at=ORIGIN, churned_at=instant))
    else:
        sources.persons.append(Person("zz", signed_up_at=ORIGIN))
        sources.app_events.append(Event("zz", "report_generated", instant))
        events.append(sources.app_events[-1])
    return sources, sources.persons, events


def expected_marts(persons: list[Person], events: list[Event], variables: dict
                   ) -> tuple[Dim, History, Moves]:
    as_of = variables.get("as_of_date")
    options = {"as_of": dt.date.fromisoformat(as_of) if as_of else None,
               "settings": variables.get("segments")}
    weeks = history(persons, events, **options)
    return segments(persons, events, **options), weeks, transitions(weeks)


PERSON = st.tuples(
    st.integers(-8, POINTS - 1),  # < 0: no signed_up_at (the person enters by an event)
    st.integers(-3 * POINTS, POINTS - 1),  # < 0: never churned (most persons)
    st.lists(st.integers(0, len(KINDS) * POINTS - 1), max_size=12),
)
BATCH = st.lists(PERSON, min_size=CASES, max_size=CASES)


def seeded_batch(seed: int) -> list:
    """A batch of BATCH's shape from a seeded generator, for an explicit example: persons
    with bursts of events on a few days, so the small thresholds are crossed often."""
    rng = random.Random(seed)
    batch = []
    for _ in range(CASES):
        days = [rng.randrange(GRID_DAYS) for _ in range(rng.randint(0, 4))]
        picks = [rng.randrange(len(KINDS)) * POINTS + day * len(WITHIN_DAY) + rng.randrange(4)
                 for day in days for _ in range(rng.randint(1, 5))]
        batch.append((rng.randint(-8, POINTS - 1),
                      rng.randint(0, POINTS - 1) if rng.random() < 0.2 else -1, picks))
    return batch


@settings(max_examples=1, phases=[Phase.explicit, Phase.generate], deadline=None,
          database=None, suppress_health_check=list(HealthCheck))
@example(cases=seeded_batch(16), closing="churn")
@given(cases=BATCH, closing=st.sampled_from(CLOSINGS))
def test_random_batches_agree_with_the_reference(compiled: Compiled, cases: list,
                                                 closing: str) -> None:
    """One example is one batch of 200 random persons in one warehouse (2 batches: 400
    persons, up to 4,800 events): a dbt build with the default vars, then the marts made
    again from the SQL compiled for RUNS' other vars; every row of the three marts must be
    the reference's."""
    sources, persons, events = batch_sources(cases, closing)
    with tempfile.TemporaryDirectory(prefix="segments-batch-") as folder:
        data = DataDir(Path(folder)).ensure()
        ingest(data, sources)
        build(data, first=True, tests=False)
        for variables in RUNS:
            if variables:
                compiled.run(data, variables)
            got = read_duckdb(data)
            for name, rows, expected in zip(("dim", "history", "transitions"), got,
                                            expected_marts(persons, events, variables),
                                            strict=True):
                assert rows == expected, (variables, closing, name,
                                          differences(rows, expected))


# -- the generated warehouses -------------------------------------------------------------------
def test_the_demo_recovers_the_planted_segments(warehouse) -> None:
    """600 generated users (PostHog and app): dim_person_segments' counts per segment are
    truth.json's exactly (no tolerance: the generator measures them on the rows it wrote,
    with the marts' definition of a product event), the as-of day is the generator's last
    day, and the population is exactly the app users (the anonymous visitors only have `$`
    events)."""
    data, ref = warehouse
    truth = json.loads((data.generated / "truth.json").read_text())["segments"]
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        counts = dict(con.execute(
            "select segment, count(*) from marts.dim_person_segments group by segment"
        ).fetchall())
        as_of = {r[0] for r in con.execute(
            "select distinct as_of_date from marts.dim_person_segments").fetchall()}
        population = {r[0] for r in con.execute(
            "select person_id from marts.dim_person_segments").fetchall()}
    assert counts == {k: v for k, v in truth["counts"].items() if v}
    assert as_of == {dt.date.fromisoformat(truth["as_of_date"])}
    assert population == set(ref.users)


def test_the_generated_warehouse_agrees_with_the_reference(full_warehouse) -> None:
    """400 generated users from every source: the three marts are the reference's row for
    row, on the events read the reference's way (PostHog copies of app events not
    counted; HubSpot deal stages and Intercom conversations in the stream but not product
    use, though they move the data's end). The data really tests the CRM exclusion: the
    segments would differ if CRM touchpoints counted."""
    from tests.test_retention import generated_events

    data, ref = full_warehouse
    persons = [Person(uid, u["signed_up_at"], u["converted_at"], u["churned_at"])
               for uid, u in ref.users.items()]
    events = [Event(e.person_id, e.name, e.occurred_at, e.source, e.is_counted)
              for e in generated_events(ref)]
    dim, weeks, moves = read_duckdb(data)
    expected_dim, expected_weeks, expected_moves = expected_marts(persons, events, {})
    assert dim == expected_dim, differences(dim, expected_dim)
    assert weeks == expected_weeks, differences(weeks, expected_weeks)
    assert moves == expected_moves, differences(moves, expected_moves)
    crm_as_product = [Event(e.person_id, e.name, e.occurred_at, "app", e.is_counted)
                      if e.source in ("hubspot", "intercom") else e for e in events]
    assert segments(persons, crm_as_product) != expected_dim
