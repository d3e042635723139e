"""The funnel marts agree exactly with the plain-Python reference (tests/funnel_reference.py).

Every hand case of tests/funnel_cases.py and a batch of random cases drawn by hypothesis
(tests/funnel_cases.py `random_case`) go into ONE warehouse: each case's persons are app
users and its events app events (users.csv / events.csv under generated/app, loaded with
the real app-files pipeline), person ids, event names and the funnel name prefixed per
case so no funnel sees another case's events. One dbt build with all the cases' funnels
in the `funnels` var; then fct_funnel_persons, fct_funnel_steps, fct_funnel_trends and
fct_funnel_time_to_convert must equal, row for row, what the reference derives from the
same inputs. The hand cases' own hand-worked numbers are checked against the marts too.

The random cases are derandomized (hypothesis `derandomize=True`): every run draws the
same cases, so a failure reproduces; the message prints the failing case's inputs.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from journeys.dbt import run_dbt
from journeys.ingest import run_source
from journeys.paths import DataDir
from tests.funnel_cases import HAND, Case, check_expected, random_batch
from tests.funnel_reference import (
    Event,
    Output,
    date_bounds,
    in_range,
    person_attempts,
    run_funnel,
    window_of,
)

UTC = dt.UTC
RANDOM_CASES = 240  # per batch (one hypothesis example, one warehouse build)
BATCHES = 1  # hypothesis examples (one build of 240 random cases)
SIGNED_UP_AT = dt.datetime(2025, 12, 1, tzinfo=UTC)  # before every case's events
MARTS = ("fct_funnel_persons", "fct_funnel_steps", "fct_funnel_trends",
         "fct_funnel_time_to_convert")
FLOAT_TOLERANCE = 1e-9
#: a hand case's expectations (tests/funnel_cases.py) -> the mart they are about
PARTS = {"persons": "fct_funnel_persons", "steps": "fct_funnel_steps",
         "trends": "fct_funnel_trends", "histogram": "fct_funnel_time_to_convert"}


# -- the cases ------------------------------------------------------------------------------
def draw_batches(count: int, size: int) -> list[list[Case]]:
    """`count` hypothesis examples of `random_batch(size)`, derandomized (the same on
    every run), without shrinking (each example is a whole warehouse build)."""
    batches: list[list[Case]] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(random_batch(size))
    def collect(batch: list[Case]) -> None:
        batches.append(batch)

    collect()
    assert len(batches) == count, f"hypothesis gave {len(batches)} batches of {count}"
    return batches


@dataclass(frozen=True)
class Placed:
    """A case as the warehouse holds it: ids and event names prefixed with its name."""

    name: str
    case: Case

    @property
    def prefix(self) -> str:
        return f"{self.name}__"

    def person(self, local: str) -> str:
        return self.prefix + local

    def local(self, person: str) -> str:
        assert person.startswith(self.prefix), (person, self.prefix)
        return person[len(self.prefix):]

    def funnel(self) -> dict[str, Any]:
        """The case's funnel for the `funnels` var: every event name prefixed."""
        funnel = json.loads(json.dumps(self.case.funnel))
        funnel["name"] = self.name
        for rule in [*funnel["steps"], *funnel.get("exclusions", [])]:
            rule["event"] = self.prefix + rule["event"]
        return funnel


def placed_cases(batch: int) -> list[Placed]:
    """The hand cases (with the first batch) and one hypothesis batch of random cases."""
    hand = [Placed(f"h_{name}", case) for name, case in sorted(HAND.items())] if batch == 0 \
        else []
    drawn = [Placed(f"b{batch}_{c.funnel['name']}", c) for c in random_batches()[batch]]
    return hand + drawn


@functools.cache
def random_batches() -> list[list[Case]]:
    return draw_batches(BATCHES, RANDOM_CASES)


# -- the app dumps ----------------------------------------------------------------------------
def csv_field(value: Any) -> str:
    """COPY ... (FORMAT csv) style: null is an empty unquoted field, text is quoted (so
    '' stays an empty string)."""
    if value is None:
        return ""
    return '"' + str(value).replace('"', '""') + '"'


def csv_text(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    lines = [",".join(header)] + [",".join(csv_field(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def moment_text(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


@dataclass(frozen=True)
class Written:
    """What went into the dumps: event id -> (person, name, instant, properties), person
    -> plan, and the data's end (dim_persons' definition)."""

    events: dict[str, tuple[str, str, dt.datetime, dict]]
    plans: dict[str, str | None]
    data_end: dt.datetime


def write_dumps(folder: Path, cases: list[Placed]) -> Written:
    folder.mkdir(parents=True, exist_ok=True)
    users, events, plans, written = [], [], {}, {}
    for placed in cases:
        for local, columns in sorted(placed.case.persons.items()):
            person = placed.person(local)
            plans[person] = columns.get("plan")
            users.append((person, f"{person}@funnels.test", moment_text(SIGNED_UP_AT),
                          columns.get("plan"), None, None, None, moment_text(SIGNED_UP_AT)))
        for i, event in enumerate(placed.case.events):
            event_id = f"{placed.name}-{i}"
            person, name = placed.person(event.person_id), placed.prefix + event.event_name
            written[event_id] = (person, name, event.occurred_at, dict(event.properties))
            events.append((event_id, person, name, json.dumps(event.properties), None,
                           moment_text(event.occurred_at)))
    (folder / "users.csv").write_text(csv_text(
        ("id", "email", "signed_up_at", "plan", "converted_at", "churned", "churned_at",
         "updated_at"), users))
    (folder / "events.csv").write_text(csv_text(
        ("id", "user_id", "name", "properties", "session_id", "created_at"), events))
    data_end = max([SIGNED_UP_AT, *(moment for _, _, moment, _ in written.values())])
    return Written(events=written, plans=plans, data_end=data_end)


# -- the warehouse --------------------------------------------------------------------------
@dataclass
class Built:
    cases: list[Placed]
    written: Written
    warehouse: Path
    build_ok: bool
    statuses: dict
    expected: dict[str, Output]


def build(data: DataDir, cases: list[Placed]) -> tuple[bool, dict]:
    funnels = json.dumps({"funnels": [placed.funnel() for placed in cases]})
    selection = " ".join(f"+{model}" for model in ("fct_events", "dim_persons", *MARTS))
    result = run_dbt(data, "build", ["--vars", funnels, "--select", *selection.split(),
                                     "--resource-type", "model", "--resource-type", "seed"],
                     quiet=True)
    return result.ok, result.statuses


@pytest.fixture(scope="module", params=range(BATCHES), ids=lambda b: f"batch{b}")
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One warehouse per hypothesis batch: dumps written, loaded, built once."""
    data = DataDir(tmp_path_factory.mktemp(f"funnel-agreement-{request.param}")).ensure()
    cases = placed_cases(request.param)
    written = write_dumps(data.generated / "app", cases)
    loaded = run_source(data, "app-files")
    assert loaded.rows_rejected == 0, "the app dumps this test writes must load whole"
    ok, statuses = build(data, cases)
    expected = {p.name: run_funnel(p.case.events, p.case.persons, p.case.funnel,
                                   written.data_end) for p in cases}
    return Built(cases=cases, written=written, warehouse=data.warehouse_db, build_ok=ok,
                 statuses=statuses, expected=expected)


def query(warehouse: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def mart_rows(built: Built, mart: str) -> dict[str, list[dict]]:
    """The mart's rows per funnel (case name)."""
    assert table_exists(built.warehouse, mart), (
        f"marts.{mart} was not built (dbt build ok: {built.build_ok}, {built.statuses})")
    rows: dict[str, list[dict]] = {}
    for row in query(built.warehouse, f"select * from marts.{mart}"):
        rows.setdefault(row["funnel_name"], []).append(row)
    return rows


def table_exists(warehouse: Path, table: str) -> bool:
    return bool(query(warehouse, "select 1 as x from information_schema.tables where "
                                 f"table_schema = 'marts' and table_name = '{table}'"))


# -- comparing ------------------------------------------------------------------------------
def same_value(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or expected is None or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, dt.datetime) and isinstance(actual, dt.datetime):
        return expected == (actual if actual.tzinfo else actual.replace(tzinfo=UTC))
    if isinstance(expected, dt.date) and isinstance(actual, dt.datetime):
        return expected == actual.date()
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, float(actual), rel_tol=FLOAT_TOLERANCE,
                            abs_tol=FLOAT_TOLERANCE)
    if isinstance(expected, int | float) and actual is not None:  # Decimal
        return math.isclose(expected, float(actual), rel_tol=FLOAT_TOLERANCE,
                            abs_tol=FLOAT_TOLERANCE)
    return expected == actual


def compare_rows(part: str, expected: list[dict], actual: list[dict],
                 key: tuple[str, ...]) -> list[str]:
    """Row-for-row differences on the reference's columns (the mart may carry more)."""
    def keyed(rows: list[dict]) -> dict[tuple, dict]:
        return {tuple(r[k] for k in key): r for r in rows}

    want, have = keyed(expected), keyed(actual)
    problems = []
    for k in sorted(set(want) | set(have), key=str):
        if k not in have:
            problems.append(f"{part} {k}: missing from the mart (reference: {want[k]})")
        elif k not in want:
            problems.append(f"{part} {k}: in the mart only ({have[k]})")
        else:
            for column, value in want[k].items():
                if column in key:
                    continue
                got = have[k].get(column, "<no such column>")
                if not same_value(value, got):
                    problems.append(f"{part} {k}: {column} = {got!r}, reference {value!r}")
    return problems[:12]


def localised(placed: Placed, mart: str, rows: list[dict]) -> list[dict]:
    """The mart's rows with the case's prefixes taken off (person ids, step events)."""
    out = []
    for row in rows:
        row = dict(row)
        row["funnel_name"] = placed.case.funnel["name"]
        if "person_id" in row:
            row["person_id"] = placed.local(row["person_id"])
        if mart == "fct_funnel_steps" and isinstance(row.get("step_event"), str):
            row["step_event"] = placed.local(row["step_event"])
        if mart == "fct_funnel_trends" and isinstance(row.get("period_start"), dt.datetime):
            row["period_start"] = row["period_start"].date()
        out.append(row)
    return out


def describe(placed: Placed) -> str:
    case = placed.case
    events = "\n".join(
        f"    {e.person_id} {e.event_name} {e.occurred_at:%Y-%m-%d %H:%M:%S.%f} "
        f"{json.dumps(dict(e.properties))}"
        for e in sorted(case.events, key=lambda e: (e.person_id, e.occurred_at, e.event_name)))
    seed = f", seeded_case({case.seed}, ...)" if case.seed is not None else ""
    return (f"case {placed.name} (warehouse prefix {placed.prefix!r}{seed})\n"
            f"  funnel: {json.dumps(case.funnel)}\n  persons: {json.dumps(case.persons)}\n"
            f"  events:\n{events or '    (none)'}")


def agreement(built: Built, mart: str, part: str, key: tuple[str, ...]) -> None:
    """Every case's rows of `mart` equal the reference's; the message shows the first
    failing cases' inputs and differences."""
    rows = mart_rows(built, mart)
    failing = []
    for placed in built.cases:
        want = getattr(built.expected[placed.name], part)
        have = localised(placed, mart, rows.get(placed.name, []))
        problems = compare_rows(mart, want, have, key)
        if problems:
            failing.append(describe(placed) + "\n  differences:\n    " +
                           "\n    ".join(problems))
    assert not failing, (
        f"{len(failing)} of {len(built.cases)} cases differ in marts.{mart} (cases are "
        "derandomized: a rerun draws the same ones). First ones:\n\n" +
        "\n\n".join(failing[:4]))


# -- the tests ------------------------------------------------------------------------------
def test_the_warehouse_holds_exactly_the_cases_events(built: Built) -> None:
    """The loading part on its own: fct_events holds exactly the events written (each app
    event counted once, with its person, name, instant and properties) and dim_persons
    the persons with their plans."""
    events = query(built.warehouse, "select event_id, person_id, event_name, occurred_at, "
                                    "cast(properties as varchar) as properties, is_counted "
                                    "from marts.fct_events")
    # fct_events names an app event "app-" + its id
    have = {r["event_id"].removeprefix("app-"): (r["person_id"], r["event_name"],
                                                r["occurred_at"], json.loads(r["properties"]))
            for r in events}
    want = built.written.events
    assert len(events) == len(want)
    differ = [(k, want.get(k), have.get(k)) for k in sorted(set(want) | set(have))
              if want.get(k) != have.get(k)]
    assert not differ, f"{len(differ)} events differ, first: {differ[:5]}"
    assert all(r["is_counted"] for r in events)
    persons = query(built.warehouse, "select person_id, plan from marts.dim_persons")
    assert {r["person_id"]: r["plan"] for r in persons} == built.written.plans


def test_the_random_cases_hold_what_the_agreement_is_about(built: Built) -> None:
    """The drawn cases really contain the situations that matter (else agreement proves
    little): every order, breakdown and attribution kind, exclusions that exclude, ties,
    repeated steps, steps exactly at the window's end, date ranges that cut events."""
    drawn = [p.case for p in built.cases if p.case.seed is not None]
    assert len(drawn) >= 200
    seen: Counter = Counter()
    for case in drawn:
        funnel = case.funnel
        seen[f"order {funnel['order']}"] += 1
        breakdown = funnel.get("breakdown")
        seen["breakdown " + ("none" if breakdown is None else
                             "column" if isinstance(breakdown, str) else "property")] += 1
        attribution = funnel.get("breakdown_attribution")
        if attribution is not None:
            seen["attribution " + ("step" if isinstance(attribution, dict)
                                   else attribution)] += 1
        names = [s["event"] for s in funnel["steps"]]
        seen["repeated step"] += len(set(names)) < len(names)
        seen["date range"] += "date_from" in funnel or "date_to" in funnel
        seen["exclusions"] += bool(funnel.get("exclusions"))
        seen.update(situations(case))
    wanted = ["order ordered", "order strict", "order unordered", "breakdown none",
              "breakdown column", "breakdown property", "attribution first_touch",
              "attribution last_touch", "attribution step", "repeated step", "date range",
              "exclusions", "tie", "excluded attempt", "person excluded", "at window end",
              "converted", "out of range", "several entry days"]
    thin = {w: seen[w] for w in wanted if seen[w] < 5}
    assert not thin, f"too few random cases with {thin} (all: {dict(seen)})"


def situations(case: Case) -> Counter:
    """What happens in one case, read from its events and the reference's attempts."""
    out: Counter = Counter()
    funnel, window = case.funnel, window_of(case.funnel)
    low, high = date_bounds(funnel)
    by_person: dict[str, list[Event]] = {}
    for event in case.events:
        if in_range(event.occurred_at, low, high):
            by_person.setdefault(event.person_id, []).append(event)
        else:
            out["out of range"] = 1
    for person, events in by_person.items():
        moments = Counter(e.occurred_at for e in events)
        if any(n > 1 for n in moments.values()):
            out["tie"] = 1
        attempts = person_attempts(events, case.persons.get(person), funnel, window)
        if any(a.excluded for a in attempts):
            out["excluded attempt"] = 1
            if all(a.excluded for a in attempts):
                out["person excluded"] = 1
        clean = [a for a in attempts if not a.excluded]
        if any(a.reached == len(funnel["steps"]) and len(funnel["steps"]) > 1 for a in clean):
            out["converted"] = 1
        if any(a.reached > 1 and a.times[a.reached - 1] == a.start + window for a in attempts):
            out["at window end"] = 1
        if len({a.start.date() for a in clean}) > 1:
            out["several entry days"] = 1
    return out


def test_fct_funnel_persons_agrees_with_the_reference(built: Built) -> None:
    agreement(built, "fct_funnel_persons", "persons", ("person_id",))


def test_fct_funnel_steps_agrees_with_the_reference(built: Built) -> None:
    agreement(built, "fct_funnel_steps", "steps", ("breakdown_value", "step_number"))


def test_fct_funnel_trends_agrees_with_the_reference(built: Built) -> None:
    agreement(built, "fct_funnel_trends", "trends", ("breakdown_value", "period", "period_start"))


def test_fct_funnel_time_to_convert_agrees_with_the_reference(built: Built) -> None:
    agreement(built, "fct_funnel_time_to_convert", "time_to_convert",
              ("step_number", "bin_number"))


def test_the_marts_give_the_hand_cases_hand_worked_numbers(built: Built) -> None:
    """The hand cases straight against their hand-worked numbers (not through the
    reference). Trends' is_complete depends on the warehouse's data end, which every case
    shares here, so it is left to the reference comparison."""
    missing = [mart for mart in MARTS if not table_exists(built.warehouse, mart)]
    marts = {mart: {} if mart in missing else mart_rows(built, mart) for mart in MARTS}
    failing = [f"marts.{mart} was not built" for mart in missing]
    for placed in built.cases:
        expected = placed.case.expected
        if not expected:
            continue
        trends = {k: {c: v for c, v in f.items() if c != "is_complete"}
                  for k, f in expected.get("trends", {}).items()}
        checked = {part: value for part, value in {**expected, "trends": trends}.items()
                   if part in expected and PARTS[part] not in missing}
        output = Output(*(localised(placed, mart, marts[mart].get(placed.name, []))
                          for mart in MARTS))
        problems = check_expected(checked, output)
        if problems:
            failing.append(describe(placed) + "\n    " + "\n    ".join(problems))
    assert not failing, f"{len(failing)} problems; first ones:\n\n" + "\n\n".join(failing[:6])
