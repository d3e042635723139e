"""ClickHouse's windowFunnel through chdb (journeys.bench.window_funnel, issue 17): where
its rules meet and leave SEMANTICS.md "Funnels", by experiment.

Each hand case has two expected answers worked out by hand in its comment: `ours`
(SEMANTICS.md; checked against the plain-Python reference, tests/funnel_reference.py) and
`clickhouse` (what windowFunnel must give through the module's translation). They are
equal except where the module docstring says they differ: one event filling two steps.
A few raw queries show why the translation is written as it is (microsecond integers,
ifNull around the conditions, no 'strict_order'). Last, on a built warehouse, windowFunnel
gives the mart's persons_reached for every configured funnel it can express."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from journeys.bench.window_funnel import (
    export_funnel_events,
    mart_steps,
    parse_funnel,
    window_funnel,
)
from tests.funnel_reference import Event, run_funnel

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.UTC
ABC = [{"event": "a"}, {"event": "b"}, {"event": "c"}]
PROJECT = {"item_type": "project"}

# (person, "YYYY-MM-DD HH:MM:SS[.ffffff]" UTC, event name, properties as text), load order
Row = tuple[str, str, str, dict[str, str]]


@dataclass(frozen=True)
class Case:
    funnel: dict
    rows: list[Row]
    ours: list[int]         # persons_reached by step, SEMANTICS.md
    clickhouse: list[int]   # persons_reached by step, windowFunnel


CASES = {
    # p1 a, b, c -> 3; p2 a, b -> 2; p3 a -> 1; p4 b, c without a -> not entered.
    # reached >= 1: p1 p2 p3 = 3; >= 2: p1 p2 = 2; >= 3: p1 = 1.
    "ordered": Case(
        {"name": "f", "steps": ABC, "window_days": 14},
        [("p1", "2026-01-01 10:00:00", "a", {}), ("p1", "2026-01-02 10:00:00", "b", {}),
         ("p1", "2026-01-03 10:00:00", "c", {}),
         ("p2", "2026-01-01 10:00:00", "a", {}), ("p2", "2026-01-02 10:00:00", "b", {}),
         ("p3", "2026-01-01 10:00:00", "a", {}),
         ("p4", "2026-01-01 10:00:00", "b", {}), ("p4", "2026-01-02 10:00:00", "c", {})],
        [3, 2, 1], [3, 2, 1]),
    # p1: a 01-01, a 01-10, b 01-20, c 01-22. From the first a, b is 19 days on (out of
    # the 14); from the second, b is +10 d and c +12 d -> 3.
    # p2: a 01-01, b 01-02, a 01-10, c 01-16. First a: a, b, then c is +15 d (out) -> 2;
    # second a: no b after it -> 1. Best attempt 2.
    # reached >= 1: 2; >= 2: 2; >= 3: p1 = 1.
    "repeated_step_1": Case(
        {"name": "f", "steps": ABC},
        [("p1", "2026-01-01 00:00:00", "a", {}), ("p1", "2026-01-10 00:00:00", "a", {}),
         ("p1", "2026-01-20 00:00:00", "b", {}), ("p1", "2026-01-22 00:00:00", "c", {}),
         ("p2", "2026-01-01 00:00:00", "a", {}), ("p2", "2026-01-02 00:00:00", "b", {}),
         ("p2", "2026-01-10 00:00:00", "a", {}), ("p2", "2026-01-16 00:00:00", "c", {})],
        [2, 2, 1], [2, 2, 1]),
    # p1: b and a at the same microsecond (b loaded first), c a day later: simultaneous
    # events are in order -> 3. p2: c, b, a all at one instant -> 3. p3: b, then a one
    # microsecond later, then c: b is before a -> a, c only -> 1.
    # reached >= 1: 3; >= 2: p1 p2 = 2; >= 3: 2.
    "same_instant": Case(
        {"name": "f", "steps": ABC},
        [("p1", "2026-01-01 10:00:00", "b", {}), ("p1", "2026-01-01 10:00:00", "a", {}),
         ("p1", "2026-01-02 10:00:00", "c", {}),
         ("p2", "2026-01-01 10:00:00", "c", {}), ("p2", "2026-01-01 10:00:00", "b", {}),
         ("p2", "2026-01-01 10:00:00", "a", {}),
         ("p3", "2026-01-01 10:00:00", "b", {}),
         ("p3", "2026-01-01 10:00:00.000001", "a", {}),
         ("p3", "2026-01-02 10:00:00", "c", {})],
        [3, 2, 2], [3, 2, 2]),
    # 14-day window, from step 1. p1: b exactly 14 d after a -> 2 (inclusive). p2: b
    # 14 d + 1 µs after a -> 1. p3: a, b a day later, c exactly 14 d after a -> 3. p4: as
    # p3 with c 1 µs later -> 2 (the window runs from step 1, not from the previous step).
    # reached >= 1: 4; >= 2: p1 p3 p4 = 3; >= 3: p3 = 1.
    "window_boundary_days": Case(
        {"name": "f", "steps": ABC, "window_days": 14},
        [("p1", "2026-01-01 00:00:00", "a", {}), ("p1", "2026-01-15 00:00:00", "b", {}),
         ("p2", "2026-01-01 00:00:00", "a", {}),
         ("p2", "2026-01-15 00:00:00.000001", "b", {}),
         ("p3", "2026-01-01 00:00:00", "a", {}), ("p3", "2026-01-02 00:00:00", "b", {}),
         ("p3", "2026-01-15 00:00:00", "c", {}),
         ("p4", "2026-01-01 00:00:00", "a", {}), ("p4", "2026-01-02 00:00:00", "b", {}),
         ("p4", "2026-01-15 00:00:00.000001", "c", {})],
        [4, 3, 1], [4, 3, 1]),
    # 1-second window. p1: b exactly 1 s after a -> 2. p2: 1.000001 s -> 1. p3: a at
    # .5 s, b at 1.5 s -> 2. p4: a at 0 s, b at 1.5 s -> 1 (whole seconds would say 2:
    # test_whole_seconds_would_stretch_the_window). reached >= 1: 4; >= 2: p1 p3 = 2.
    "window_boundary_seconds": Case(
        {"name": "f", "steps": ABC[:2], "window_seconds": 1},
        [("p1", "2026-01-01 10:00:00", "a", {}), ("p1", "2026-01-01 10:00:01", "b", {}),
         ("p2", "2026-01-01 10:00:00", "a", {}),
         ("p2", "2026-01-01 10:00:01.000001", "b", {}),
         ("p3", "2026-01-01 10:00:00.5", "a", {}), ("p3", "2026-01-01 10:00:01.5", "b", {}),
         ("p4", "2026-01-01 10:00:00", "a", {}), ("p4", "2026-01-01 10:00:01.5", "b", {})],
        [4, 2], [4, 2]),
    # step 2 is b with item_type = project. p1: a, b{project}, c -> 3. p2: a, b{doc}, c
    # -> 1. p3: a, b without the property, c -> 1. p4: a, b{doc}, b{project}, c -> 3.
    # reached >= 1: 4; >= 2: p1 p4 = 2; >= 3: 2.
    "where_filter": Case(
        {"name": "f", "steps": [ABC[0], {"event": "b", "where": PROJECT}, ABC[2]]},
        [("p1", "2026-01-01 10:00:00", "a", {}),
         ("p1", "2026-01-02 10:00:00", "b", PROJECT),
         ("p1", "2026-01-03 10:00:00", "c", {}),
         ("p2", "2026-01-01 10:00:00", "a", {}),
         ("p2", "2026-01-02 10:00:00", "b", {"item_type": "doc"}),
         ("p2", "2026-01-03 10:00:00", "c", {}),
         ("p3", "2026-01-01 10:00:00", "a", {}), ("p3", "2026-01-02 10:00:00", "b", {}),
         ("p3", "2026-01-03 10:00:00", "c", {}),
         ("p4", "2026-01-01 10:00:00", "a", {}),
         ("p4", "2026-01-02 10:00:00", "b", {"item_type": "doc"}),
         ("p4", "2026-01-02 11:00:00", "b", PROJECT),
         ("p4", "2026-01-03 10:00:00", "c", {})],
        [4, 2, 2], [4, 2, 2]),
    # p1: c, b, a -> 1 (nothing after a). p2: b, a, b, c -> 3 (the second b follows a).
    # p3: a, c, b -> 2 (no c after b). reached >= 1: 3; >= 2: p2 p3 = 2; >= 3: p2 = 1.
    "other_order": Case(
        {"name": "f", "steps": ABC},
        [("p1", "2026-01-01 10:00:00", "c", {}), ("p1", "2026-01-02 10:00:00", "b", {}),
         ("p1", "2026-01-03 10:00:00", "a", {}),
         ("p2", "2026-01-01 10:00:00", "b", {}), ("p2", "2026-01-02 10:00:00", "a", {}),
         ("p2", "2026-01-03 10:00:00", "b", {}), ("p2", "2026-01-04 10:00:00", "c", {}),
         ("p3", "2026-01-01 10:00:00", "a", {}), ("p3", "2026-01-02 10:00:00", "c", {}),
         ("p3", "2026-01-03 10:00:00", "b", {})],
        [3, 2, 1], [3, 2, 1]),
    # dates 01-02 to 01-03 inclusive. p1: a a microsecond before 01-02 (out), b on 01-02
    # -> not entered. p2: a at 01-02 00:00, b at 01-03 23:59:59.999999 -> 2. p3: a on
    # 01-03, b at 01-04 00:00 (out: the window does not extend date_to) -> 1.
    # reached >= 1: p2 p3 = 2; >= 2: p2 = 1.
    "date_range": Case(
        {"name": "f", "steps": ABC[:2], "date_from": "2026-01-02", "date_to": "2026-01-03"},
        [("p1", "2026-01-01 23:59:59.999999", "a", {}),
         ("p1", "2026-01-02 10:00:00", "b", {}),
         ("p2", "2026-01-02 00:00:00", "a", {}),
         ("p2", "2026-01-03 23:59:59.999999", "b", {}),
         ("p3", "2026-01-03 12:00:00", "a", {}), ("p3", "2026-01-04 00:00:00", "b", {})],
        [2, 1], [2, 1]),
    # Where they differ: funnel a -> a. p1: one a -> ours 1 (two steps need two events),
    # windowFunnel 2 (the one row meets both conditions). p2: two a at one instant -> 2
    # and 2. p3: a, a a day later -> 2 and 2.
    # ours: >= 1: 3, >= 2: p2 p3 = 2. windowFunnel: 3, 3.
    "one_event_two_steps": Case(
        {"name": "f", "steps": [{"event": "a"}, {"event": "a"}]},
        [("p1", "2026-01-01 10:00:00", "a", {}),
         ("p2", "2026-01-01 10:00:00", "a", {}), ("p2", "2026-01-01 10:00:00", "a", {}),
         ("p3", "2026-01-01 10:00:00", "a", {}), ("p3", "2026-01-02 10:00:00", "a", {})],
        [3, 2], [3, 3]),
    # b, then b with item_type = project. p1: b without the property, then b{project}
    # -> 2 and 2. p2: b without the property only -> 1 and 1 (its NULL condition for
    # step 2 must not hide it from step 1: test_a_null_condition_skips_the_whole_row).
    # p3: b{project} only -> ours 1, windowFunnel 2 (one event, both steps).
    # ours: 3, 1; windowFunnel: 3, 2.
    "missing_property_on_a_shared_event": Case(
        {"name": "f", "steps": [{"event": "b"}, {"event": "b", "where": PROJECT}]},
        [("p1", "2026-01-01 10:00:00", "b", {}),
         ("p1", "2026-01-02 10:00:00", "b", PROJECT),
         ("p2", "2026-01-01 10:00:00", "b", {}),
         ("p3", "2026-01-01 10:00:00", "b", PROJECT)],
        [3, 1], [3, 2]),
}


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def write_events(path: Path, funnel: dict, rows: list[Row]) -> Path:
    """The rows as export_funnel_events writes them: one text column per filter."""
    columns = {"person_id": [r[0] for r in rows],
               "occurred_at": pa.array([moment(r[1]) for r in rows],
                                       pa.timestamp("us", tz="UTC")),
               "event_name": [r[2] for r in rows]}
    for key, column in parse_funnel(funnel).filter_columns().items():
        columns[column] = pa.array([r[3].get(key) for r in rows], pa.string())
    pq.write_table(pa.table(columns), path)
    return path


def reference_steps(funnel: dict, rows: list[Row]) -> list[int]:
    events = [Event(person, name, moment(at), properties, event_id=str(i))
              for i, (person, at, name, properties) in enumerate(rows)]
    data_end = max(e.occurred_at for e in events)
    return [row["persons_reached"] for row in run_funnel(events, {}, funnel, data_end).steps]


@pytest.mark.parametrize("name", list(CASES))
def test_window_funnel_gives_the_hand_counts(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    events = write_events(tmp_path / "events.parquet", case.funnel, case.rows)
    assert reference_steps(case.funnel, case.rows) == case.ours
    result = window_funnel(events, case.funnel, runs=1, workdir=tmp_path)
    assert result.steps == case.clickhouse
    assert result.rows == len(case.rows)


def test_window_funnel_agrees_with_the_reference_on_random_persons(tmp_path: Path) -> None:
    """Beyond the hand cases: 400 random persons, up to 8 events each from a, b, c and an
    unrelated x on a coarse time grid (ties are common), b sometimes with item_type =
    project, against the reference, for steps that no event can match twice (the
    activation funnel's shape) and windows from one grid step up."""
    rng = random.Random(17)
    grid = [f"2026-01-0{day} {hour:02d}:00:00" for day in range(1, 4) for hour in (0, 6, 12)]
    rows: list[Row] = []
    for person in range(400):
        for _ in range(rng.randint(1, 8)):
            name = rng.choice("abcx")
            properties = PROJECT if name == "b" and rng.random() < 0.6 else {}
            rows.append((f"p{person}", rng.choice(grid), name, properties))
    for window_hours in (6, 12, 36):
        funnel = {"name": "f", "window_hours": window_hours,
                  "steps": [ABC[0], {"event": "b", "where": PROJECT}, ABC[2]]}
        events = write_events(tmp_path / f"random-{window_hours}.parquet", funnel, rows)
        ours = reference_steps(funnel, rows)
        assert ours[-1] > 0
        assert window_funnel(events, funnel, runs=1, workdir=tmp_path).steps == ours


def clickhouse(tmp_path: Path, sql: str) -> str:
    """One query in a chdb session of its own (chdb allows one data path per process)."""
    from chdb import session as chdb_session

    session = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        return session.query(sql, "TabSeparated").data().strip()
    finally:
        session.close()


def test_window_funnel_refuses_datetime64(tmp_path: Path) -> None:
    """Why the module passes microseconds as UInt64: DateTime64 is not accepted."""
    with pytest.raises(Exception, match="Illegal type DateTime64"):
        clickhouse(tmp_path, "select windowFunnel(1)(t, e = 'a') from values("
                   "'t DateTime64(6), e String', ('2026-01-01 10:00:00', 'a'))")


def test_whole_seconds_would_stretch_the_window(tmp_path: Path) -> None:
    """a at 10:00:00.0, b at 10:00:01.5, window 1 s: out of the window (case
    window_boundary_seconds, p4), but in it as DateTime (00 and 01, one second apart)."""
    reached = clickhouse(
        tmp_path,
        "select windowFunnel(1)(toDateTime(t), e = 'a', e = 'b') from values("
        "'t DateTime64(6), e String', "
        "('2026-01-01 10:00:00', 'a'), ('2026-01-01 10:00:01.5', 'b'))")
    assert reached == "2"


def test_a_null_condition_skips_the_whole_row(tmp_path: Path) -> None:
    """Why every condition is wrapped in ifNull: b without the property meets step 1 (b),
    but `e = 'b' and p = 'project'` is NULL for it, and ClickHouse then drops the row
    (with no row left the level is NULL), so the person does not even enter; with ifNull
    it enters (case missing_property_on_a_shared_event, p2)."""
    values = "values('t UInt64, e String, p Nullable(String)', (1, 'b', NULL))"
    bare = clickhouse(
        tmp_path, f"select windowFunnel(10)(t, e = 'b', e = 'b' and p = 'project') from {values}")
    wrapped = clickhouse(
        tmp_path, "select windowFunnel(10)(t, ifNull(e = 'b', 0), "
                  f"ifNull(e = 'b' and p = 'project', 0)) from {values}")
    assert (bare, wrapped) == ("\\N", "1")


def test_strict_order_is_not_our_strict(tmp_path: Path) -> None:
    """a, b, b, c: SEMANTICS.md's strict stops at 2 (the repeated b lies between b and c,
    or between a and the later b); windowFunnel's 'strict_order' lets the repeat pass and
    reaches 3. So the module refuses strict funnels."""
    rows: list[Row] = [("p1", f"2026-01-01 10:00:0{i}", e, {}) for i, e in enumerate("abbc")]
    assert reference_steps({"name": "f", "steps": ABC, "order": "strict"}, rows) == [1, 1, 0]
    reached = clickhouse(
        tmp_path,
        "select windowFunnel(10, 'strict_order')(t, e = 'a', e = 'b', e = 'c') from values("
        "'t UInt64, e String', (0, 'a'), (1, 'b'), (2, 'b'), (3, 'c'))")
    assert reached == "3"


@pytest.mark.parametrize(
    ("change", "message"),
    [({"order": "unordered"}, "order 'unordered' has no windowFunnel equivalent"),
     ({"order": "strict"}, "order 'strict' has no windowFunnel equivalent"),
     ({"breakdown": "first_touch_source"}, "breakdown is not part of windowFunnel"),
     ({"exclusions": [{"event": "x", "between": [1, 2]}]},
      "exclusions is not part of windowFunnel"),
     ({"steps": [{"event": "a", "where_person": {"plan": "pro"}}]},
      "where_person .* is not translated")],
    ids=["unordered", "strict", "breakdown", "exclusions", "where-person"])
def test_funnels_windowfunnel_cannot_express_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_funnel({"name": "f", "steps": ABC, **change})


def configured_funnels() -> list[dict]:
    """The funnels of dbt_project.yml (the fixture warehouse's) that windowFunnel can say:
    activation, and every other ordered one without breakdown or exclusions."""
    project = yaml.safe_load((ROOT / "dbt_project.yml").read_text())
    return [f for f in project["vars"]["funnels"]
            if (f.get("order") or "ordered") == "ordered"
            and not f.get("breakdown") and not f.get("exclusions")]


def test_window_funnel_agrees_with_the_mart_on_a_built_warehouse(
        warehouse, tmp_path: Path) -> None:
    data, _ = warehouse
    funnels = configured_funnels()
    assert "activation" in [f["name"] for f in funnels]
    for funnel in funnels:
        events = tmp_path / f"{funnel['name']}.parquet"
        rows = export_funnel_events(data.warehouse_db, funnel, events)
        result = window_funnel(events, funnel, runs=1, workdir=tmp_path)
        assert result.rows == rows
        assert result.steps == mart_steps(data.warehouse_db, funnel["name"]), funnel["name"]
        if funnel["name"] == "activation":
            assert 0 < result.steps[-1] < result.steps[0]
        # every event, the properties read by ClickHouse (what the benchmark times)
        every = tmp_path / f"{funnel['name']}-every.parquet"
        assert export_funnel_events(data.warehouse_db, funnel, every, every_event=True) > rows
        whole = window_funnel(every, funnel, runs=1, workdir=tmp_path, every_event=True)
        assert whole.steps == result.steps, funnel["name"]
