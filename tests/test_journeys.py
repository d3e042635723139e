"""Journeys (issue 16): fct_journey_edges, fct_journey_paths and fct_journey_paths_before
on real dbt builds, fed through the real pipelines (app dumps and PostHog exports).

- Hand cases: nine persons whose numbers are worked out by hand in the comments below
  (repeats collapsed, also across an excluded event; fewer than N steps, exactly N, more
  than N; ties in time and in persons; a PostHog copy and an $identify that are no steps;
  a conversion at the instant of its last events), with the default vars and again with
  N = 3, a top 2 and another excluded list. The plain-Python reference must give them too.
- Property test: batches of 200 random small cases on a coarse time grid (ties, repeats,
  decisions at an event's instant), one dbt build per batch, three sets of vars each,
  compared with tests/journey_reference.py (which shares no code with the SQL).
- A bad journey var stops dbt at compile time with a message naming the var.
- Every source: on the generated warehouse with HubSpot and Intercom, the three marts are
  the reference's, row for row (deal stages as `deal_stage_changed:<stage>` steps,
  Intercom conversations).
- Demo truth: the generator's truth.json `journeys` (app users' paths of server steps by
  outcome, counted on the rows it wrote) is what the marts give with its vars.
- PostgreSQL gives the hand numbers (ties in byte order, not the database's collation).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import psycopg
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from journeys.dbt import run_dbt, target_dir
from journeys.ingest import run_source
from journeys.paths import DataDir
from tests.journey_reference import (
    END,
    SEPARATOR,
    Event,
    PathRow,
    Person,
    edges,
    journeys,
    paths,
    paths_before,
)
from tests.reference import Generated

UTC = dt.UTC
STEPS_MODEL = "int_journey__steps"
PATHS_MODEL = "int_journey__paths"
MARTS = ("fct_journey_edges", "fct_journey_paths", "fct_journey_paths_before")
USER_COLUMNS = ("id", "email", "signed_up_at", "plan", "converted_at", "churned", "churned_at",
                "updated_at")
EVENT_COLUMNS = ("id", "user_id", "name", "properties", "session_id", "created_at")
# the second set of vars of the hand cases and the random batches
N3_RUN = {"journey_steps": 3, "journey_top_paths": 2,
          "journey_excluded_events": ["$pageview", "$autocapture", "file_uploaded"]}

Marts = tuple[Counter, list[PathRow], list[PathRow]]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def app_time(instant: dt.datetime | None) -> str:
    """The app's timestamp(3) text, UTC without a zone; empty for null."""
    if instant is None:
        return ""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def path(*steps: str) -> str:
    return SEPARATOR.join(steps)


def in_order(rows: list[PathRow]) -> list[PathRow]:
    """Path rows as the tests compare them: by outcome, then rank."""
    return sorted(rows, key=lambda r: (r.outcome, r.path_rank))


# -- feeding a warehouse --------------------------------------------------------------------
@dataclass
class Sources:
    """Rows for the app's dump files and a PostHog export. Persons are app users (their id
    is their person_id); PostHog rows are sent under a user's id. A PostHog row with
    `copy_of` is the browser's copy of that app event (its uuid is the app event's id, so
    it pairs by id and is not counted)."""

    persons: list[Person] = field(default_factory=list)
    app_events: list[Event] = field(default_factory=list)
    posthog_events: list[tuple[Event, int | None]] = field(default_factory=list)

    def events(self) -> list[Event]:
        """The rows of fct_events, as the reference reads them."""
        return [*self.app_events, *(
            Event(e.person_id, e.name, e.occurred_at, "posthog", copy_of is None)
            for e, copy_of in self.posthog_events)]

    def write(self, folder: Path) -> None:
        app = folder / "app"
        app.mkdir(parents=True)
        with open(app / "users.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(USER_COLUMNS)
            for p in self.persons:
                writer.writerow([p.person_id, f"{p.person_id}@example.test",
                                 app_time(p.signed_up_at), "trial", app_time(p.converted_at),
                                 "t" if p.churned else "f", app_time(p.churned_at),
                                 "2020-01-01 00:00:00"])
        with open(app / "events.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(EVENT_COLUMNS)
            for i, e in enumerate(self.app_events):
                writer.writerow([f"ev-{i}", e.person_id, e.name, "{}", "",
                                 app_time(e.occurred_at)])
        if self.posthog_events:
            export = folder / "posthog"
            export.mkdir()
            with open(export / "events.jsonl", "w", encoding="utf-8") as handle:
                for i, (e, copy_of) in enumerate(self.posthog_events):
                    handle.write(json.dumps({
                        "uuid": f"ev-{copy_of}" if copy_of is not None
                        else f"00000000-0000-4000-8000-{i:012d}",
                        "timestamp": e.occurred_at.isoformat(),
                        "_inserted_at": (e.occurred_at + dt.timedelta(seconds=1)).isoformat(),
                        "event": e.name,
                        "distinct_id": e.person_id,
                        "properties": {"$lib": "web"},
                    }) + "\n")


def ingest(data: DataDir, sources: Sources) -> None:
    sources.write(data.root / "dumps")
    run_source(data, "app-files", str(data.root / "dumps" / "app"))
    if (data.root / "dumps" / "posthog").exists():
        run_source(data, "posthog-files", str(data.root / "dumps" / "posthog"))


def build(data: DataDir, variables: dict | None = None, *, first: bool = False,
          tests: bool = True) -> None:
    """The first build makes every model the marts need; a rebuild with other vars makes
    the journey models again (and runs their data tests, the flow check among them)."""
    if first:
        selected = ["+" + mart for mart in MARTS]
    else:
        selected = [STEPS_MODEL, PATHS_MODEL, *MARTS, "assert_journey_edges_conserve_persons"]
    args = ["--select", " ".join(selected)]
    args += ["--indirect-selection", "cautious"] if tests else [
        "--exclude-resource-type", "test", "unit_test"]
    if variables:
        args += ["--vars", json.dumps(variables)]
    result = run_dbt(data, "build", args, quiet=True)
    assert result.ok, f"dbt build failed with vars {variables}: {result.statuses}"


class Compiled:
    """The journey models' SQL as dbt compiles it for a set of vars, compiled once per set
    and then run on any warehouse (a dbt rebuild costs a full parse per batch)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sql: dict[str, list[tuple[str, str]]] = {}

    def of(self, variables: dict) -> list[tuple[str, str]]:
        key = json.dumps(variables, sort_keys=True)
        if key not in self.sql:
            data = DataDir(self.folder / f"vars-{len(self.sql)}").ensure()
            result = run_dbt(data, "compile",
                             ["--select", " ".join([STEPS_MODEL, PATHS_MODEL, *MARTS]),
                              "--vars", key],
                             quiet=True)
            assert result.ok, f"dbt compile failed with vars {variables}"
            models = target_dir(data) / "compiled" / "journeys" / "models"
            self.sql[key] = [
                *((f"intermediate.{model}",
                   (models / "intermediate" / "journeys" / f"{model}.sql").read_text())
                  for model in (STEPS_MODEL, PATHS_MODEL)),
                *((f"marts.{mart}_v1", (models / "marts" / "journeys" / f"{mart}.sql")
                   .read_text()) for mart in MARTS),
            ]
        return self.sql[key]

    def run(self, data: DataDir, variables: dict) -> None:
        """Make the models from the compiled SQL in dbt's order, into the tables the
        compiled SQL refs and the plain-name views read."""
        with duckdb.connect(str(data.warehouse_db)) as con:
            con.execute("set TimeZone = 'UTC'")
            for table, sql in self.of(variables):
                con.execute(f"create or replace table {table} as {sql}")


def path_rows(rows: list[tuple]) -> list[PathRow]:
    return in_order([PathRow(*row) for row in rows])


def read_marts(fetch) -> Marts:
    """The three marts: edges as (outcome, k, from, to) -> persons; path rows in order."""
    columns = "outcome, path_rank, path, persons, share_of_outcome, conversion_rate"
    found = Counter({tuple(r[:4]): r[4] for r in fetch(
        "select outcome, step_number, from_event, to_event, persons "
        "from marts.fct_journey_edges")})
    return (found,
            path_rows(fetch(f"select {columns} from marts.fct_journey_paths")),
            path_rows(fetch(f"select {columns} from marts.fct_journey_paths_before")))


def read_duckdb(data: DataDir) -> Marts:
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        return read_marts(lambda sql: con.execute(sql).fetchall())


class Warehouse:
    """One data dir, built once with the default vars; the marts per set of vars, made
    once each: by a dbt rebuild, or from SQL compiled beforehand."""

    def __init__(self, data: DataDir, compiled: Compiled, tests: bool = True) -> None:
        self.data = data
        self.compiled = compiled
        self.tests = tests
        self.made: dict[str, Marts] = {}

    def marts(self, variables: dict | None = None, *, by_dbt: bool = False) -> Marts:
        key = json.dumps(variables or {}, sort_keys=True)
        if key not in self.made:
            if not self.made:
                build(self.data, first=True, tests=self.tests)
                self.made["{}"] = read_duckdb(self.data)
            if variables:
                if by_dbt:
                    build(self.data, variables, tests=self.tests)
                else:
                    self.compiled.run(self.data, variables)
                self.made[key] = read_duckdb(self.data)
        return self.made[key]


def expected(sources: Sources, variables: dict) -> Marts:
    """What the marts must hold after a build with these vars, by the reference."""
    people = journeys(sources.persons, sources.events(),
                      variables.get("journey_excluded_events",
                                    ["$pageview", "$autocapture", "$pageleave",
                                     "$feature_flag_called"]))
    steps = variables.get("journey_steps", 6)
    top = variables.get("journey_top_paths", 50)
    return edges(people, steps), paths(people, steps, top), paths_before(people, steps, top)


# -- hand cases -----------------------------------------------------------------------------
D = at("2026-03-02 10:00")
MIN, HOUR, DAY = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
# cy's events, which fay and ivy share: 8 steps, more than N
LONG = (("workspace_created", HOUR), ("file_uploaded", 2 * HOUR),
        ("report_generated", 3 * HOUR), ("file_uploaded", 4 * HOUR),
        ("report_generated", 5 * HOUR), ("export_downloaded", 6 * HOUR),
        ("file_uploaded", 7 * HOUR))
HAND = Sources(
    persons=[
        Person("ana", D, converted_at=D + 3 * DAY),
        Person("ben", D + HOUR, churned_at=D + 2 * DAY, churned=True),
        Person("cy", D),
        Person("dee", D + 20 * DAY),  # no event; their signup is the data's end: in trial
        Person("eve", D, converted_at=D + HOUR),
        Person("fay", D),
        Person("gus", D),
        Person("hal", D),
        Person("ivy", D, converted_at=D + 10 * DAY),
    ],
    app_events=[
        Event("ana", "signed_up", D),  # the signup's own event: a repeat of step 1
        Event("ana", "workspace_created", D + 5 * MIN),
        Event("ana", "workspace_created", D + 7 * MIN),  # after an $autocapture: a repeat
        Event("ana", "file_uploaded", D + 10 * MIN),
        Event("ana", "report_generated", D + 20 * MIN),
        Event("ana", "file_uploaded", D + 30 * MIN),
        Event("ana", "plan_upgraded", D + 3 * DAY),  # at the conversion: not before it
        Event("ben", "signed_up", D + HOUR),
        Event("ben", "workspace_created", D + 2 * HOUR),
        Event("ben", "workspace_created", D + 3 * HOUR),  # a plain repeat
        Event("ben", "cancellation_started", D + 2 * DAY - 5 * MIN),
        Event("ben", "account_deleted", D + 2 * DAY),  # at the churn: not before it
        *(Event(who, "signed_up", D) for who in ("cy", "fay", "ivy", "eve", "gus", "hal")),
        *(Event(who, name, D + offset) for who in ("cy", "fay", "ivy") for name, offset in LONG),
        Event("ivy", "plan_upgraded", D + 10 * DAY),
        # three events at one instant (the conversion's): byte order
        Event("eve", "report_generated", D + HOUR),
        Event("eve", "plan_upgraded", D + HOUR),
        Event("eve", "file_uploaded", D + HOUR),
        Event("gus", "export_downloaded", D + HOUR),
        Event("hal", "api_call_made", D + HOUR),
    ],
    posthog_events=[
        (Event("ana", "$pageview", D + MIN), None),
        (Event("ana", "$autocapture", D + 6 * MIN), None),
        (Event("ana", "file_uploaded", D + 10 * MIN + dt.timedelta(seconds=1)), 3),  # a copy
        (Event("hal", "$identify", D + HOUR + dt.timedelta(seconds=1)), None),  # never a step
    ],
)
# The data's end is dee's signup, D + 20 days: every trial but dee's has ended.
# Steps (default vars):
#   ana: signed_up, workspace_created, file_uploaded, report_generated, file_uploaded,
#        plan_upgraded (exactly N = 6)
#   ben: signed_up, workspace_created, cancellation_started, account_deleted (4)
#   cy, fay: signed_up + LONG: signed_up, workspace_created, file_uploaded,
#        report_generated, file_uploaded, report_generated, export_downloaded,
#        file_uploaded (8); ivy the same and plan_upgraded (9)
#   dee: signed_up (1); gus: signed_up, export_downloaded; hal: signed_up, api_call_made
#   eve: signed_up, file_uploaded, plan_upgraded, report_generated (one instant, 4)
S, WS, FU, RG = "signed_up", "workspace_created", "file_uploaded", "report_generated"
PU, ED, CS, AD, API = ("plan_upgraded", "export_downloaded", "cancellation_started",
                       "account_deleted", "api_call_made")
EDGES_BY_HAND = Counter({
    # converted: ana, ivy (more than N: edges 1-5, no end), eve (4 steps: an end at 4)
    ("converted", 1, S, WS): 2, ("converted", 1, S, FU): 1,
    ("converted", 2, WS, FU): 2, ("converted", 2, FU, PU): 1,
    ("converted", 3, FU, RG): 2, ("converted", 3, PU, RG): 1,
    ("converted", 4, RG, FU): 2, ("converted", 4, RG, END): 1,
    ("converted", 5, FU, PU): 1, ("converted", 5, FU, RG): 1,
    # churned: ben, 4 steps
    ("churned", 1, S, WS): 1, ("churned", 2, WS, CS): 1, ("churned", 3, CS, AD): 1,
    ("churned", 4, AD, END): 1,
    # expired_trial: cy, fay (8 steps), gus, hal (2 steps)
    ("expired_trial", 1, S, WS): 2, ("expired_trial", 1, S, ED): 1,
    ("expired_trial", 1, S, API): 1,
    ("expired_trial", 2, WS, FU): 2, ("expired_trial", 2, ED, END): 1,
    ("expired_trial", 2, API, END): 1,
    ("expired_trial", 3, FU, RG): 2, ("expired_trial", 4, RG, FU): 2,
    ("expired_trial", 5, FU, RG): 2,
    # in_trial: dee, the signup alone
    ("in_trial", 1, S, END): 1,
})
CY_PATH = path(S, WS, FU, RG, FU, RG)  # cy, fay (expired), ivy (converted): 1 of 3 converted
PATHS_BY_HAND = in_order([
    # converted, one person each: ties in byte order ("signed_up → f" < "signed_up → w";
    # ana's "... → file_uploaded → plan_upgraded" < cy's "... → file_uploaded → report_...")
    PathRow("converted", 1, path(S, FU, PU, RG, END), 1, 1 / 3, 1.0),
    PathRow("converted", 2, path(S, WS, FU, RG, FU, PU), 1, 1 / 3, 1.0),
    PathRow("converted", 3, CY_PATH, 1, 1 / 3, 1 / 3),
    PathRow("churned", 1, path(S, WS, CS, AD, END), 1, 1.0, 0.0),
    PathRow("expired_trial", 1, CY_PATH, 2, 2 / 4, 1 / 3),
    PathRow("expired_trial", 2, path(S, API, END), 1, 1 / 4, 0.0),  # "a" < "e"
    PathRow("expired_trial", 3, path(S, ED, END), 1, 1 / 4, 0.0),
    PathRow("in_trial", 1, path(S, END), 1, 1.0, None),  # nobody on it has ended a trial
])
# before the decision: ana's 5 steps before her conversion (plan_upgraded is at it); ivy's
# last 6 of 8; eve's signup alone (her events are at the conversion's instant); ben's 3
PATHS_BEFORE_BY_HAND = in_order([
    PathRow("converted", 1, path(FU, RG, FU, RG, ED, FU), 1, 1 / 3, 1.0),
    PathRow("converted", 2, S, 1, 1 / 3, 1.0),  # a prefix of the next: first in byte order
    PathRow("converted", 3, path(S, WS, FU, RG, FU), 1, 1 / 3, 1.0),
    PathRow("churned", 1, path(S, WS, CS), 1, 1.0, 0.0),
])

# N3_RUN: N = 3, top 2, file_uploaded excluded too. Steps: ana signed_up,
# workspace_created, report_generated, plan_upgraded; cy, fay: signed_up,
# workspace_created, report_generated (its repeat across the excluded file_uploaded
# collapses), export_downloaded; ivy the same and plan_upgraded; eve signed_up,
# plan_upgraded, report_generated (exactly N: no end); ben, dee, gus, hal as before
N3_EDGES_BY_HAND = Counter({
    ("converted", 1, S, WS): 2, ("converted", 1, S, PU): 1,
    ("converted", 2, WS, RG): 2, ("converted", 2, PU, RG): 1,
    ("churned", 1, S, WS): 1, ("churned", 2, WS, CS): 1,
    ("expired_trial", 1, S, WS): 2, ("expired_trial", 1, S, ED): 1,
    ("expired_trial", 1, S, API): 1,
    ("expired_trial", 2, WS, RG): 2, ("expired_trial", 2, ED, END): 1,
    ("expired_trial", 2, API, END): 1,
    ("in_trial", 1, S, END): 1,
})
# signed_up → workspace_created → report_generated: ana, ivy (converted), cy, fay: 2 of 4
N3_PATHS_BY_HAND = in_order([
    PathRow("converted", 1, path(S, WS, RG), 2, 2 / 3, 0.5),
    PathRow("converted", 2, path(S, PU, RG), 1, 1 / 3, 1.0),
    PathRow("churned", 1, path(S, WS, CS), 1, 1.0, 0.0),
    PathRow("expired_trial", 1, path(S, WS, RG), 2, 2 / 4, 0.5),
    # gus's signed_up → export_downloaded → (end) ties at 1 and is cut by the top 2
    PathRow("expired_trial", 2, path(S, API, END), 1, 1 / 4, 0.0),
    PathRow("in_trial", 1, path(S, END), 1, 1.0, None),
])
# before: ana signed_up, workspace_created, report_generated (3); ivy's last 3 of 4
# (workspace_created, report_generated, export_downloaded: cut by the top 2); eve's signup
N3_PATHS_BEFORE_BY_HAND = in_order([
    PathRow("converted", 1, S, 1, 1 / 3, 1.0),
    PathRow("converted", 2, path(S, WS, RG), 1, 1 / 3, 1.0),
    PathRow("churned", 1, path(S, WS, CS), 1, 1.0, 0.0),
])


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    return Compiled(tmp_path_factory.mktemp("journeys-compiled"))


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory, compiled: Compiled) -> Warehouse:
    data = DataDir(tmp_path_factory.mktemp("journeys-hand")).ensure()
    ingest(data, HAND)
    return Warehouse(data, compiled)


def test_the_reference_gives_the_hand_numbers() -> None:
    assert expected(HAND, {}) == (EDGES_BY_HAND, PATHS_BY_HAND, PATHS_BEFORE_BY_HAND)
    assert expected(HAND, N3_RUN) == (N3_EDGES_BY_HAND, N3_PATHS_BY_HAND,
                                      N3_PATHS_BEFORE_BY_HAND)


def test_journeys_by_hand(hand: Warehouse) -> None:
    """The default vars (the marts' data tests and the flow check run on these rows)."""
    found_edges, found_paths, found_before = hand.marts()
    assert found_edges == EDGES_BY_HAND
    assert found_paths == PATHS_BY_HAND
    assert found_before == PATHS_BEFORE_BY_HAND


def test_three_steps_a_top_two_and_another_excluded_list_by_hand(hand: Warehouse) -> None:
    """Rebuilt by dbt with N3_RUN's vars (the data tests run on these rows too)."""
    assert hand.marts(N3_RUN, by_dbt=True) == (N3_EDGES_BY_HAND, N3_PATHS_BY_HAND,
                                               N3_PATHS_BEFORE_BY_HAND)


# -- a bad var ------------------------------------------------------------------------------
STEPS_MESSAGE = "var journey_steps must be a positive whole number"
LIST_MESSAGE = "var journey_excluded_events must be a list of event names"


@pytest.mark.parametrize(("variables", "message"), [
    ({"journey_steps": 0}, STEPS_MESSAGE),
    ({"journey_steps": "6"}, STEPS_MESSAGE),
    ({"journey_steps": 2.5}, STEPS_MESSAGE),
    ({"journey_steps": True}, STEPS_MESSAGE),
    ({"journey_top_paths": -1}, "var journey_top_paths must be a positive whole number"),
    ({"journey_excluded_events": "$pageview"}, LIST_MESSAGE),
    ({"journey_excluded_events": None}, LIST_MESSAGE),
    ({"journey_excluded_events": ["$pageview", " "]}, "var journey_excluded_events: item 2"),
    ({"journey_excluded_events": [7]}, "var journey_excluded_events: item 1"),
])
def test_a_bad_journey_var_fails_at_compile_time_naming_it(
        tmp_path: Path, capfd: pytest.CaptureFixture, variables: dict, message: str) -> None:
    result = run_dbt(DataDir(tmp_path).ensure(), "parse", ["--vars", json.dumps(variables)])
    assert not result.ok
    assert message in capfd.readouterr().out


# -- property test: random batches against the reference --------------------------------------
# case i's grid starts i % 20 days after ORIGIN: the data's end is about 26 days in, so
# about half the signups are still in their trial
ORIGIN = dt.datetime(2022, 1, 3, tzinfo=UTC)
CASES = 200  # per batch
WITHIN_DAY = (dt.timedelta(0), dt.timedelta(milliseconds=1), dt.timedelta(hours=12),
              dt.timedelta(days=1, milliseconds=-1))
DAYS = range(-1, 6)  # a coarse grid: ties, repeats, decisions at an event's instant
POINTS = len(DAYS) * len(WITHIN_DAY)
# app events (a `$` name and an upper-case one among them: byte order puts `Zeta` before
# `file_uploaded`), and events PostHog alone sends (never the same names: no pairing)
APP_NAMES = ("signed_up", "file_uploaded", "report_generated", "Zeta", "$autocapture")
POSTHOG_NAMES = ("$pageview", "feature_used", "$identify")
ONE_RUN = {"journey_steps": 1, "journey_top_paths": 1}


def on_grid(base: dt.datetime, point: int) -> dt.datetime:
    return base + dt.timedelta(days=DAYS[point // len(WITHIN_DAY)]) + WITHIN_DAY[
        point % len(WITHIN_DAY)]


def batch_sources(cases: list) -> Sources:
    """Case i's users `c<i>u<j>`: signup (< 0: none in the app's table, so their first
    signed_up event is), conversion, churn (-1: churned without churned_at), app events
    (each maybe with its PostHog copy, 0.5 s later) and PostHog-only events."""
    sources = Sources()
    for i, users in enumerate(cases):
        base = ORIGIN + dt.timedelta(days=i % 20)
        for j, (signup, converted, churned, app, client) in enumerate(users):
            person_id = f"c{i:03d}u{j}"
            sources.persons.append(Person(
                person_id,
                signed_up_at=None if signup < 0 else on_grid(base, signup),
                converted_at=None if converted < 0 else on_grid(base, converted),
                churned_at=None if churned < 0 else on_grid(base, churned),
                churned=churned >= -1))
            for name, point, copied in app:
                event = Event(person_id, APP_NAMES[name], on_grid(base, point))
                if copied:
                    sources.posthog_events.append((Event(
                        person_id, event.name,
                        event.occurred_at + dt.timedelta(milliseconds=500)),
                        len(sources.app_events)))
                sources.app_events.append(event)
            for name, point in client:
                sources.posthog_events.append(
                    (Event(person_id, POSTHOG_NAMES[name], on_grid(base, point)), None))
    return sources


def seeded_batch(seed: int) -> list:
    """A batch of CASES cases from a seeded generator: per case 1 to 3 users, each
    (signup, conversion, churn, app events as (name, point, with a copy), PostHog-only
    events as (name, point)); the ranges are batch_sources'."""
    rng = random.Random(seed)

    def user() -> tuple:
        # a fifth without the app's signup; a third converted; a fifth churned (some
        # with no churned_at), so every outcome and decision appears
        churn = rng.random()
        return (-1 if rng.random() < 0.2 else rng.randrange(POINTS),
                rng.randrange(POINTS) if rng.random() < 0.35 else -1,
                rng.randrange(POINTS) if churn < 0.15 else -1 if churn < 0.2 else -2,
                [(rng.randrange(len(APP_NAMES)), rng.randrange(POINTS), rng.random() < 0.3)
                 for _ in range(rng.randint(0, 7))],
                [(rng.randrange(len(POSTHOG_NAMES)), rng.randrange(POINTS))
                 for _ in range(rng.randint(0, 3))])

    return [[user() for _ in range(rng.randint(1, 3))] for _ in range(CASES)]


def differences(got: Marts, want: Marts) -> list:
    out: list = []
    got_edges, want_edges = got[0], want[0]
    out += [(key, got_edges.get(key), want_edges.get(key))
            for key in sorted(set(got_edges) | set(want_edges), key=str)
            if got_edges.get(key) != want_edges.get(key)][:3]
    for found, wanted in zip(got[1:], want[1:], strict=True):
        out += [(a, b) for a, b in zip(found, wanted, strict=False) if a != b][:3]
        if len(found) != len(wanted):
            out.append(("rows", len(found), len(wanted)))
    return out


# Hypothesis draws each batch's seed: 200 cases of up to 3 users with event lists are
# beyond what it can draw and shrink as one example (it gives up as "too large"), and a
# batch costs a dbt build. A failure names the seed; seeded_batch(seed) replays it.
# One drawn batch, and one explicit.
@settings(max_examples=1, phases=[Phase.explicit, Phase.generate], deadline=None,
          database=None, suppress_health_check=list(HealthCheck))
@example(seed=16)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_random_batches_agree_with_the_reference(compiled: Compiled, seed: int) -> None:
    """One example is one batch of 200 cases in one warehouse (2 batches: 400 cases, about
    800 persons and 3,000 events): a dbt build with the default vars, then the models made
    again with N3_RUN's and ONE_RUN's compiled SQL (N = 1: no edges, every path the
    signup); every row of the three marts must be the reference's, for each set."""
    sources = batch_sources(seeded_batch(seed))
    assume(len(sources.app_events) > CASES)
    with tempfile.TemporaryDirectory(prefix="journeys-batch-") as folder:
        data = DataDir(Path(folder)).ensure()
        ingest(data, sources)
        warehouse = Warehouse(data, compiled, tests=False)
        for variables in ({}, N3_RUN, ONE_RUN):
            got, want = warehouse.marts(variables), expected(sources, variables)
            assert got == want, (seed, variables, differences(got, want))


# -- every source: the generated warehouse ----------------------------------------------------
def generated_sources(ref: Generated) -> tuple[list[Person], list[Event]]:
    """The generated files read the reference's way (tests/reference.py's
    Generated.source_events): app users, and the events of every source."""
    persons = [Person(uid, u["signed_up_at"], u["converted_at"], u["churned_at"],
                      u["churned"] == "true") for uid, u in ref.users.items()]
    return persons, ref.source_events()


def test_steps_from_every_source_agree_with_the_reference(full_warehouse) -> None:
    """400 generated users from every source (PostHog copies of app events, HubSpot deal
    stages, Intercom conversations): the three marts are the reference's, row for row;
    and HubSpot and Intercom steps really are in them."""
    data, ref = full_warehouse
    persons, events = generated_sources(ref)
    people = journeys(persons, events)
    want = (edges(people), paths(people), paths_before(people))
    got = read_duckdb(data)
    assert got == want, differences(got, want)
    names = {name for (_, _, a, b) in got[0] for name in (a, b)}
    assert "conversation_opened" in names
    assert {n for n in names if n.startswith("deal_stage_changed:")}, names
    assert "deal_stage_changed" not in names  # every change names its stage


# -- demo truth -------------------------------------------------------------------------------
def truth_rows(by_outcome: dict[str, dict[str, int]], conversion: dict[str, dict[str, int]],
               top: int) -> list[PathRow]:
    rows = []
    for outcome, counts in by_outcome.items():
        total = sum(counts.values())
        order = sorted(counts.items(), key=lambda item: (-item[1], item[0].encode()))
        for rank, (shown, persons) in enumerate(order[:top], 1):
            rate = conversion[shown]
            rows.append(PathRow(outcome, rank, shown, persons, persons / total,
                                rate["converted"] / rate["trial_ended"]
                                if rate["trial_ended"] else None))
    return sorted(rows, key=lambda r: (r.outcome, r.path_rank))


def test_the_demo_recovers_the_planted_server_journeys(warehouse, tmp_path: Path) -> None:
    """600 generated users. truth.json `journeys` counts, per trial outcome, each app
    user's path of server steps (the app's own rows, signup first, repeats collapsed,
    every event PostHog alone sends excluded), over the rows the generator wrote. The
    marts, rebuilt with those vars on a copy of the warehouse, give the same paths,
    counts, shares, conversion rates and edges. Tolerance zero: the truth is counted on
    the written rows, not drawn from probabilities, and app events reach their user
    exactly (by user_id), so no sampling error enters."""
    data, _ = warehouse
    truth = json.loads((data.generated / "truth.json").read_text())
    planted = truth["journeys"]
    copy = DataDir(tmp_path / "copy").ensure()
    shutil.copy(data.raw_db, copy.raw_db)
    shutil.copy(data.warehouse_db, copy.warehouse_db)
    build(copy, {"journey_steps": planted["steps"],
                 "journey_excluded_events": planted["excluded_events"]})
    got_edges, got_paths, got_before = read_duckdb(copy)

    assert {o: sum(c.values()) for o, c in planted["paths"].items()} == {
        o: n for o, n in truth["trial_outcomes"].items() if n}
    assert got_paths == truth_rows(planted["paths"], planted["path_conversion"], 50)
    assert got_before == truth_rows(planted["paths_before"],
                                    planted["path_before_conversion"], 50)
    want_edges: Counter = Counter()
    for outcome, counts in planted["paths"].items():
        for shown, persons in counts.items():
            names = shown.split(planted["separator"])
            for k in range(1, len(names)):
                want_edges[(outcome, k, names[k - 1], names[k])] += persons
    assert got_edges == want_edges
    # the planted activation funnel as a path: its persons per outcome
    activation = planted["activation_path"]
    assert sum(activation["persons"].values()) > 0
    for row in got_paths:
        if row.path == activation["path"]:
            assert row.persons == activation["persons"][row.outcome]


# -- the hand cases on PostgreSQL --------------------------------------------------------------
def test_postgres_gives_the_hand_numbers(hand: Warehouse, postgres: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand data's raw tables copied into a real PostgreSQL (pgserver) and built there
    by dbt with the default vars: the same hand numbers (ties in byte order whatever the
    database's collation)."""
    from tests.test_engines import copy_raw_tables, create_database, target_env

    dsn = create_database(postgres, "journeys_hand")
    assert copy_raw_tables(hand.data.raw_db, dsn, tmp_path) > 0
    target_env(postgres, "journeys_hand", monkeypatch)
    build(DataDir(tmp_path / "pg").ensure(), first=True)
    with psycopg.connect(dsn) as con:
        got = read_marts(lambda sql: con.execute(sql).fetchall())
    assert got == (EDGES_BY_HAND, PATHS_BY_HAND, PATHS_BEFORE_BY_HAND)
