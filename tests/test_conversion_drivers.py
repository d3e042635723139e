"""Conversion drivers (issue 16): fct_conversion_drivers on real builds, fed through the
real pipelines (app dumps and PostHog exports).

- Hand cases: a few persons whose 2x2 tables, odds ratios, intervals, p- and q-values are
  worked out by hand in the comments below (a zero cell, an event exactly D days after
  signup and one 1 ms later, one 1 ms before signup, a PostHog copy across the boundary,
  persons outside the population, a candidate everybody has, lift with rate_without 0).
  Both the mart and the plain-Python reference must give them. The dbt unit tests in the
  models' yml (a known list of p-values for the q-values; the window and population) run
  in the same builds, and must have passed.
- Property test: batches of 200 random small cases on a grid that hits the window's ends
  exactly. Each batch is one warehouse (one dbt build): the mart over the whole batch is
  compared with tests/drivers_reference.py (which shares no code with the SQL), and each
  case on its own too, by running the two models' SQL, as dbt compiled it for other vars,
  on that case's rows of the built dim_persons and fct_events.
- A bad var stops dbt at compile time with a message naming the var.
- PostgreSQL gives the hand numbers (built there from the same raw tables).
- The demo truth: on the generated warehouse, team_member_invited is rank 1 and its rates
  are the generator's (truth.json).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import math
import random
import re
import tempfile
from pathlib import Path

import duckdb
import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from journeys.dbt import run_dbt, target_dir
from journeys.generator import simulate as sim
from journeys.paths import PROJECT_DIR, DataDir
from tests.drivers_reference import (
    DEFAULT_OUTCOME_EVENTS,
    Driver,
    Event,
    Person,
    benjamini_hochberg,
    candidate_events,
    drivers,
    rank_key,
)
from tests.test_retention import Sources, ingest

UTC = dt.UTC
MODELS = ("int_conversion_drivers__tables", "fct_conversion_drivers")
PLAN = [(row["event_name"], row["status"]) for row in csv.DictReader(
    (PROJECT_DIR / "seeds" / "tracking_plan.csv").open(encoding="utf-8"))]
CANDIDATES = candidate_events(PLAN)
MS = dt.timedelta(milliseconds=1)
DAY = dt.timedelta(days=1)
Rows = dict[str, Driver]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- building and reading ---------------------------------------------------------------------
def build(data: DataDir, variables: dict | None = None, *, first: bool = False,
          tests: bool = True) -> None:
    """The first build makes every model the mart needs; a rebuild with other vars makes the
    two driver models again. With `tests`, their data and unit tests run too."""
    args = ["--select", "+fct_conversion_drivers" if first else " ".join(MODELS)]
    args += ["--indirect-selection", "cautious"] if tests else [
        "--exclude-resource-type", "test", "unit_test"]
    if variables:
        args += ["--vars", json.dumps(variables)]
    result = run_dbt(data, "build", args, quiet=True)
    assert result.ok, f"dbt build failed with vars {variables}: {result.statuses}"


def as_drivers(rows: list[tuple]) -> Rows:
    return {r[0]: Driver(*r) for r in rows}


def read_mart(data: DataDir) -> Rows:
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        return as_drivers(con.execute("select * from marts.fct_conversion_drivers").fetchall())


def close(got: float | None, expected: float | None, rel: float) -> bool:
    if got is None or expected is None:
        return got is None and expected is None
    return math.isclose(got, expected, rel_tol=rel, abs_tol=1e-290)


FLOATS = ("rate_with", "rate_without", "lift", "odds_ratio", "odds_ratio_ci_low",
          "odds_ratio_ci_high")
EXACT = ("behaviour_event", "window_days", "persons_with", "converted_with", "persons_without",
         "converted_without", "is_ranked")


def differences(got: Rows, expected: Rows, alpha: float = 0.05, limit: int = 5) -> list:
    """What differs between the mart's rows and the expected ones: counts exactly; rates,
    lift, odds ratio and interval to 1e-9 (floating point); p and q to 1e-6 (the SQL's
    erfc is a fit good to 1.2e-7); is_significant unless q lies within 1e-6 of alpha; and
    ranks, up to the order of candidates whose q and p agree to 1e-6 (which the SQL's
    rounding may order either way)."""
    out: list = []
    if got.keys() != expected.keys():
        return [("candidates", sorted(got), sorted(expected))]
    for name, e in expected.items():
        g = got[name]
        bad = [f for f in EXACT if getattr(g, f) != getattr(e, f)]
        bad += [f for f in FLOATS if not close(getattr(g, f), getattr(e, f), 1e-9)]
        bad += [f for f in ("p_value", "q_value") if not close(getattr(g, f), getattr(e, f), 1e-6)]
        if g.is_significant != e.is_significant and not (
                e.q_value is not None and abs(e.q_value - alpha) < 1e-6):
            bad.append("is_significant")
        if bad:
            out.append((name, bad, g, e))
    by_rank = sorted((d for d in got.values() if d.rank is not None), key=lambda d: d.rank)
    if [d.rank for d in by_rank] != list(range(1, len(by_rank) + 1)):
        out.append(("ranks are not 1..n", [d.rank for d in by_rank]))
    for before, after in itertools.pairwise(by_rank):
        eb, ea = expected[before.behaviour_event], expected[after.behaviour_event]
        tied = close(eb.q_value, ea.q_value, 1e-6) and close(eb.p_value, ea.p_value, 1e-6)
        if not tied and rank_key(vars(eb)) > rank_key(vars(ea)):
            out.append(("rank order", before.behaviour_event, after.behaviour_event))
    return out[:limit]


def unit_tests_passed(data: DataDir) -> set[str]:
    """The unit tests the data dir's last dbt run ran and passed (without the `_v<N>` dbt
    appends to a versioned model's)."""
    results = json.loads((target_dir(data) / "run_results.json").read_text())["results"]
    return {re.sub(r"_v\d+$", "", r["unique_id"].split(".")[-1]) for r in results
            if r["unique_id"].startswith("unit_test.") and r["status"] == "pass"}


# -- hand cases -------------------------------------------------------------------------------
# Signups at S = 2026-03-02 00:00 (a1-a8), trials of 14 days; the data's end is a9's last
# event, 2026-04-30, so every trial but a9's (signed up 04-25) has ended.
S = at("2026-03-02 00:00")
HAND = Sources(
    persons=[
        Person("a1", S, converted_at=S + 3 * DAY),
        Person("a2", S, converted_at=S + 3 * DAY),
        Person("a3", S, converted_at=S + 3 * DAY),
        Person("a4", S, converted_at=S + 3 * DAY),
        Person("a5", S),  # expired_trial
        Person("a6", S, churned_at=S + 10 * DAY),  # churned
        Person("a7", S),  # expired_trial
        Person("a8", S),  # expired_trial
        Person("a9", at("2026-04-25 09:00")),  # in_trial at the data's end: not counted
        Person("a10"),  # never signed up: no trial outcome, not counted
    ],
    app_events=[
        *(Event(f"a{i}", "signed_up", S) for i in range(1, 9)),  # everybody, at signup
        *(Event(f"a{i}", "plan_upgraded", S + 3 * DAY) for i in range(1, 5)),  # an outcome
        Event("a1", "team_member_invited", S + 7 * DAY),  # exactly D days after: in
        Event("a2", "team_member_invited", S),  # at the signup instant: in
        Event("a3", "team_member_invited", S + 2 * DAY),
        Event("a3", "team_member_invited", S + 3 * DAY),  # twice: still one person
        Event("a4", "team_member_invited", S + 7 * DAY + MS),  # 1 ms too late: out
        Event("a5", "team_member_invited", S - MS),  # 1 ms before signup: out
        # 10 s after the window; its PostHog copy (below) lies 10 s inside it, but a copy
        # is the same occurrence, not counted again: out
        Event("a6", "team_member_invited", S + 7 * DAY + dt.timedelta(seconds=10)),
        Event("a1", "file_uploaded", S + DAY),
        Event("a4", "file_uploaded", S + DAY),
        Event("a5", "file_uploaded", S + DAY),
        Event("a8", "file_uploaded", S + DAY),
        Event("a7", "file_uploaded", S + 8 * DAY),  # out at D = 7; exactly D at D = 8
        Event("a8", "item_created", S + DAY),  # removed from the plan: not a candidate
        Event("a9", "team_member_invited", at("2026-04-26 09:00")),
        Event("a9", "report_generated", at("2026-04-30 00:00")),  # the data's end
        Event("a10", "team_member_invited", S + DAY),
    ],
    posthog_events=[
        Event("a6", "team_member_invited", S + 7 * DAY - dt.timedelta(seconds=10)),
        Event("a7", "session_started", S + DAY),  # client side only: counted
    ],
)

# By hand, D = 7 (the defaults). Population a1-a8 (4 converted: a1-a4).
# team_member_invited: with a1, a2, a3 (3, all converted: a = 3, b = 0); without a4-a8
#   (5, a4 converted: c = 1, d = 4). A zero cell: 0.5 added to each -> 3.5, 0.5, 1.5, 4.5:
#   OR = 3.5·4.5 / (0.5·1.5) = 21; se = sqrt(1/3.5 + 1/0.5 + 1/1.5 + 1/4.5) = 1.7817;
#   CI = exp(ln 21 ± 1.96·se) = (0.639, 690.0); z = ln 21 / se = 1.7087, p = 0.0875.
#   rate_with 3/3 = 1, rate_without 1/5 = 0.2, lift 5.
# session_started (a7's PostHog event): with a7 (a = 0, b = 1); without 7 (c = 4, d = 3):
#   zero cell -> 0.5, 1.5, 4.5, 3.5: OR = 1.75 / 6.75; se = sqrt(2 + 1/1.5 + 1/4.5 +
#   1/3.5) = 1.7817 (the same cells); |z| = ln(6.75/1.75) / se = 0.7577, p = 0.4487.
# file_uploaded: with a1, a4 (converted), a5, a8 (a = 2, b = 2); without a2, a3
#   (converted), a6, a7 (c = 2, d = 2): OR = 1, se = sqrt(4 · 1/2) = sqrt 2, CI =
#   exp(± 1.96 sqrt 2), p = erfc(0) = 1; rates 1/2 and 1/2, lift 1.
# signed_up: everybody (8 with, 4 converted; 0 without): no test, listed, never ranked.
# q-values (m = 3 tests, p ascending: invite, session, file): file 1·3/3 = 1; session
#   min(0.4487·3/2, 1) = 0.673; invite min(0.0875·3, 0.673, 1) = 0.2625. Nothing is
#   significant at 0.05; nothing ranked (fewer than 30 persons on some side of each).
SE_21 = math.sqrt(1 / 3.5 + 1 / 0.5 + 1 / 1.5 + 1 / 4.5)
P_INVITE = math.erfc(math.log(21) / SE_21 / math.sqrt(2))
P_SESSION = math.erfc(math.log(6.75 / 1.75) / SE_21 / math.sqrt(2))


def hand_row(name: str, counts: tuple[int, int, int, int], floats: tuple, tests: tuple,
             window_days: int = 7, rank: int | None = None) -> Driver:
    """A row from its counts (persons_with, converted_with, persons_without,
    converted_without), (rate_with, rate_without, lift, OR, CI low, CI high) and (p, q)."""
    n_with, a, n_without, c = counts
    p, q = tests
    return Driver(name, window_days, n_with, a, floats[0], n_without, c, *floats[1:], p, q,
                  q is not None and q <= 0.05, rank is not None, rank)


NOTHING = (None,) * 6
WEEK_BY_HAND: Rows = {
    "team_member_invited": hand_row(
        "team_member_invited", (3, 3, 5, 1),
        (1.0, 0.2, 5.0, 21.0, math.exp(math.log(21) - 1.96 * SE_21),
         math.exp(math.log(21) + 1.96 * SE_21)), (P_INVITE, 3 * P_INVITE)),
    "session_started": hand_row(
        "session_started", (1, 0, 7, 4),
        (0.0, 4 / 7, 0.0, 1.75 / 6.75, math.exp(-math.log(6.75 / 1.75) - 1.96 * SE_21),
         math.exp(-math.log(6.75 / 1.75) + 1.96 * SE_21)), (P_SESSION, 1.5 * P_SESSION)),
    "file_uploaded": hand_row(
        "file_uploaded", (4, 2, 4, 2),
        (0.5, 0.5, 1.0, 1.0, math.exp(-1.96 * math.sqrt(2)), math.exp(1.96 * math.sqrt(2))),
        (1.0, 1.0)),
    "signed_up": hand_row("signed_up", (8, 4, 0, 0), (0.5, *NOTHING[1:]), (None, None)),
    # the other candidates: nobody did them in the window
    **{name: hand_row(name, (0, 0, 8, 4), (None, 0.5, *NOTHING[2:]), (None, None))
       for name in CANDIDATES if name not in (
           "team_member_invited", "session_started", "file_uploaded", "signed_up")},
}

# By hand, D = 8 and min_support 3 (EIGHT_DAYS). a4's invite (7 days + 1 ms) and a6's app
# invite (7 days + 10 s) are in now, and a7's upload exactly 8 days after signup.
# team_member_invited: with a1-a4, a6 (a = 4, b = 1); without a5, a7, a8 (c = 0, d = 3):
#   zero cell -> 4.5, 1.5, 0.5, 3.5: OR = 15.75 / 0.75 = 21 again, the same cells as at
#   D = 7, so the same interval and p; rate_with 4/5, rate_without 0: lift null.
# file_uploaded: with a1, a4, a5, a7, a8 (a = 2, b = 3); without a2, a3, a6 (c = 2, d = 1):
#   OR = 2·1 / (3·2) = 1/3, se = sqrt(1/2 + 1/3 + 1/2 + 1), z = ln 3 / se = 0.7192,
#   p = 0.4720; rates 2/5 and 2/3, lift 0.6.
# session_started: as at D = 7 (p = 0.4487).
# q (m = 3; p ascending: invite, session, file): file 0.4720; session min(0.4487·3/2,
#   0.4720) = 0.4720 (the step-up pulls it down to file's); invite min(0.0875·3, ...) =
#   0.2625. Ranked (3 or more on each side): invite (5 | 3), file (5 | 3), not session (1
#   with): invite 1 (smaller q), file 2.
EIGHT_DAYS = {"conversion_drivers_window_days": 8, "conversion_drivers_min_support": 3}
SE_THIRD = math.sqrt(1 / 2 + 1 / 3 + 1 / 2 + 1)
P_FILE_8 = math.erfc(math.log(3) / SE_THIRD / math.sqrt(2))
EIGHT_DAYS_BY_HAND: Rows = {
    **{name: Driver(**{**vars(row), "window_days": 8}) for name, row in WEEK_BY_HAND.items()},
    "team_member_invited": hand_row(
        "team_member_invited", (5, 4, 3, 0),
        (0.8, 0.0, None, 21.0, math.exp(math.log(21) - 1.96 * SE_21),
         math.exp(math.log(21) + 1.96 * SE_21)), (P_INVITE, 3 * P_INVITE), 8, rank=1),
    "file_uploaded": hand_row(
        "file_uploaded", (5, 2, 3, 2),
        (0.4, 2 / 3, 0.6, 1 / 3, math.exp(-math.log(3) - 1.96 * SE_THIRD),
         math.exp(-math.log(3) + 1.96 * SE_THIRD)), (P_FILE_8, P_FILE_8), 8, rank=2),
    "session_started": hand_row(
        "session_started", (1, 0, 7, 4),
        (0.0, 4 / 7, 0.0, 1.75 / 6.75, math.exp(-math.log(6.75 / 1.75) - 1.96 * SE_21),
         math.exp(-math.log(6.75 / 1.75) + 1.96 * SE_21)), (P_SESSION, P_FILE_8), 8),
}


def hand_reference(**options) -> Rows:
    persons = [Person(p.person_id, p.signed_up_at, p.converted_at, p.churned_at)
               for p in HAND.persons]
    events = [Event(e.person_id, e.name, e.occurred_at) for e in HAND.app_events]
    # the PostHog rows: a6's is a copy of its app event (not counted), a7's is its own
    events += [Event(e.person_id, e.name, e.occurred_at, is_counted=e.person_id != "a6")
               for e in HAND.posthog_events]
    return drivers(persons, events, CANDIDATES, **options)


def test_the_hand_numbers_are_what_the_comments_say() -> None:
    """The comments' rounded numbers, from the exact expressions above."""
    assert round(SE_21, 4) == 1.7817
    assert (round(P_INVITE, 4), round(P_SESSION, 4), round(P_FILE_8, 4)) == (
        0.0875, 0.4487, 0.4720)
    invite = WEEK_BY_HAND["team_member_invited"]
    assert (round(invite.odds_ratio_ci_low, 3), round(invite.odds_ratio_ci_high, 1)) == (
        0.639, 690.0)
    assert P_INVITE < P_SESSION < 1.5 * P_SESSION < 1  # the order the q-values assume
    assert P_INVITE < P_SESSION < P_FILE_8 < 1.5 * P_SESSION


def test_the_reference_gives_the_hand_numbers() -> None:
    assert differences(hand_reference(), WEEK_BY_HAND) == []
    assert differences(hand_reference(window_days=8, min_support=3), EIGHT_DAYS_BY_HAND) == []


def test_benjamini_hochberg_on_a_known_list() -> None:
    """By hand (the list of the unit test conversion_drivers_q_values_step_up_by_hand, and a
    tie): sorted p 0.03125, 0.25, 0.375, 0.4375, 0.75 (m = 5): p·m/j = 0.15625, 0.625, 0.625,
    0.546875, 0.75; minimum from the largest down: 0.75, 0.546875 (x3), 0.15625. Two equal
    p-values (0.02, m = 3: 0.06 and 0.03) share the smaller, 0.03; 0.9·3/3 = 0.9."""
    assert benjamini_hochberg({"e_first": 0.03125, "e_second": 0.25, "e_edge": 0.375,
                               "e_low": 0.4375, "e_last": 0.75}) == {
        "e_first": 0.15625, "e_second": 0.546875, "e_edge": 0.546875, "e_low": 0.546875,
        "e_last": 0.75}
    q = benjamini_hochberg({"x": 0.02, "y": 0.02, "z": 0.9})
    assert q["x"] == q["y"] and math.isclose(q["x"], 0.03) and math.isclose(q["z"], 0.9)


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    data = DataDir(tmp_path_factory.mktemp("drivers-hand")).ensure()
    ingest(data, HAND)
    build(data, first=True)
    return data


def test_the_mart_gives_the_hand_numbers(hand: DataDir) -> None:
    """Built with the default vars; the models' data and unit tests ran and passed."""
    assert differences(read_mart(hand), WEEK_BY_HAND) == []
    assert {"conversion_drivers_q_values_step_up_by_hand",
            "conversion_drivers_population_window_and_candidates"} <= unit_tests_passed(hand)


def test_eight_days_and_min_support_3_by_hand(hand: DataDir) -> None:
    """Rebuilt by dbt with EIGHT_DAYS' vars (the data tests run on these rows too)."""
    build(hand, EIGHT_DAYS)
    assert differences(read_mart(hand), EIGHT_DAYS_BY_HAND) == []


def test_postgres_gives_the_hand_numbers(hand: DataDir, postgres: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand data's raw tables copied into a real PostgreSQL (pgserver) and built there
    by dbt with EIGHT_DAYS' vars (ranks, a null lift, an event exactly D days after
    signup): the same hand numbers, logarithms, intervals and p-values included."""
    from tests.test_engines import copy_raw_tables, create_database, target_env

    dsn = create_database(postgres, "drivers_hand")
    assert copy_raw_tables(hand.raw_db, dsn, tmp_path) > 0
    target_env(postgres, "drivers_hand", monkeypatch)
    build(DataDir(tmp_path / "pg").ensure(), EIGHT_DAYS, first=True)
    with psycopg.connect(dsn) as con:
        rows = as_drivers(con.execute("select * from marts.fct_conversion_drivers").fetchall())
    assert differences(rows, EIGHT_DAYS_BY_HAND) == []


# -- a bad var --------------------------------------------------------------------------------
@pytest.mark.parametrize(("variables", "message"), [
    ({"conversion_drivers_window_days": 0},
     "var conversion_drivers_window_days must be a positive whole number"),
    ({"conversion_drivers_window_days": "7"},
     "var conversion_drivers_window_days must be a positive whole number"),
    ({"conversion_drivers_window_days": 1.5},
     "var conversion_drivers_window_days must be a positive whole number"),
    ({"conversion_drivers_min_support": -1},
     "var conversion_drivers_min_support must be a whole number of persons, 0 or more"),
    ({"conversion_drivers_min_support": True},
     "var conversion_drivers_min_support must be a whole number of persons, 0 or more"),
    ({"conversion_drivers_alpha": 1},
     "var conversion_drivers_alpha must be a number strictly between 0 and 1"),
    ({"conversion_drivers_alpha": "0.05"},
     "var conversion_drivers_alpha must be a number strictly between 0 and 1"),
    ({"conversion_drivers_outcome_events": "plan_upgraded"},
     "var conversion_drivers_outcome_events must be a list of event names"),
    ({"conversion_drivers_outcome_events": ["plan_upgraded", " "]},
     "var conversion_drivers_outcome_events: item 2"),
])
def test_a_bad_var_fails_at_compile_time_naming_it(
        tmp_path: Path, capfd: pytest.CaptureFixture, variables: dict, message: str) -> None:
    result = run_dbt(DataDir(tmp_path).ensure(), "parse", ["--vars", json.dumps(variables)])
    assert not result.ok
    assert message in capfd.readouterr().out


# -- property test: random batches against the reference --------------------------------------
class CaseRunner:
    """The two models' SQL as dbt compiles it for a set of vars (compiled once per set), run
    on one case's rows of a built warehouse: the tables the SQL reads are copied into an
    in-memory database of the same name, the rows of tables with a person_id kept to the
    case's persons."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sql: dict[str, list[str]] = {}

    def of(self, variables: dict) -> list[str]:
        key = json.dumps(variables, sort_keys=True)
        if key not in self.sql:
            data = DataDir(self.folder / f"vars-{len(self.sql)}").ensure()
            result = run_dbt(data, "compile", ["--select", " ".join(MODELS), "--vars", key],
                             quiet=True)
            assert result.ok, f"dbt compile failed with vars {variables}"
            compiled = target_dir(data) / "compiled" / "journeys" / "models"
            self.sql[key] = [
                (compiled / "intermediate" / "drivers" / f"{MODELS[0]}.sql").read_text(),
                (compiled / "marts" / "behaviour" / f"{MODELS[1]}.sql").read_text()]
        return self.sql[key]

    def run(self, built: DataDir, prefix: str, variables: dict) -> Rows:
        tables_sql, mart_sql = self.of(variables)
        with duckdb.connect() as con:
            con.execute("set TimeZone = 'UTC'")
            con.execute(f"attach '{built.warehouse_db}' as built (read_only)")
            con.execute("attach ':memory:' as warehouse")
            for schema, table in sorted(set(re.findall(
                    r'"warehouse"\."(\w+)"\."(\w+)"', tables_sql))):
                columns = [r[0] for r in con.execute(
                    f'describe built."{schema}"."{table}"').fetchall()]
                keep = f"where person_id like '{prefix}%'" if "person_id" in columns else ""
                con.execute(f'create schema if not exists warehouse."{schema}"')
                con.execute(f'create table warehouse."{schema}"."{table}" as '
                            f'select * from built."{schema}"."{table}" {keep}')
            con.execute("create schema warehouse.intermediate")
            con.execute(f"create table warehouse.intermediate.{MODELS[0]} as {tables_sql}")
            return as_drivers(con.execute(mart_sql).fetchall())


ORIGIN = dt.datetime(2024, 1, 1, tzinfo=UTC)  # case i's signups are on day i after it
CASES = 200
SIGNUP_AT = (dt.timedelta(0), MS, dt.timedelta(hours=12), DAY - MS)
# outcomes, after signup
OUTCOME_AFTER = (dt.timedelta(hours=1), 2 * DAY, 7 * DAY, 13 * DAY, 20 * DAY)
# events, after signup (or after the case's day, without one): the window's ends for
# D = 1, 3, 7 exactly, 1 ms either side, and the instants around signup
EVENT_AFTER = (-DAY, -MS, dt.timedelta(0), MS, dt.timedelta(hours=12), DAY - MS, DAY, DAY + MS,
               2 * DAY, 3 * DAY - MS, 3 * DAY, 3 * DAY + MS, 5 * DAY, 7 * DAY - MS, 7 * DAY,
               7 * DAY + MS, 10 * DAY, 20 * DAY)
NAMES = ("team_member_invited", "file_uploaded", "session_started", "item_created",
         "plan_upgraded", "signed_up", "$pageview")
# the batch's last instant, after the last case's day: trials of the last weeks run on
CLOSINGS = (3 * DAY, 10 * DAY, 16 * DAY, 40 * DAY)
# the vars each case is checked with, on its own (small cases: a small support, so ranks
# exist); the whole batch is checked with the defaults
CASE_RUNS = ({"conversion_drivers_min_support": 1},
             {"conversion_drivers_window_days": 3, "conversion_drivers_min_support": 0,
              "conversion_drivers_alpha": 0.5, "conversion_drivers_outcome_events": []})


def reference_options(variables: dict) -> dict:
    return {"window_days": variables.get("conversion_drivers_window_days", 7),
            "min_support": variables.get("conversion_drivers_min_support", 30),
            "alpha": variables.get("conversion_drivers_alpha", 0.05)}


def reference_candidates(variables: dict) -> list[str]:
    return candidate_events(PLAN, variables.get("conversion_drivers_outcome_events",
                                                DEFAULT_OUTCOME_EVENTS))


def batch_sources(cases: list, closing: int) -> tuple[Sources, list[list[str]]]:
    """Case i's users `c<i>u<j>`, and each case's person ids. A user: (signup point or < 0
    for none, conversion point or < 0, churn point or < 0, [event]); an event is
    name · len(EVENT_AFTER) + its point."""
    sources = Sources()
    members: list[list[str]] = []
    for i, users in enumerate(cases):
        day = ORIGIN + i * DAY
        members.append([])
        for j, (signup, converted, churned, events) in enumerate(users):
            person_id = f"c{i:03d}u{j}"
            members[-1].append(person_id)
            start = day + SIGNUP_AT[signup] if signup >= 0 else None
            sources.persons.append(Person(
                person_id, start,
                converted_at=(start or day) + OUTCOME_AFTER[converted] if converted >= 0 else None,
                churned_at=(start or day) + OUTCOME_AFTER[churned] if churned >= 0 else None))
            for event in events:
                name, point = divmod(event, len(EVENT_AFTER))
                sources.app_events.append(
                    Event(person_id, NAMES[name], (start or day) + EVENT_AFTER[point]))
    last = sources.persons[-1].person_id
    sources.app_events.append(
        Event(last, "$pageview", ORIGIN + (len(cases) - 1) * DAY + CLOSINGS[closing]))
    return sources, members


def reference_rows(sources: Sources, members: list[str] | None, variables: dict,
                   end: dt.datetime) -> Rows:
    persons = [Person(p.person_id, p.signed_up_at, p.converted_at, p.churned_at)
               for p in sources.persons if members is None or p.person_id in members]
    keep = {p.person_id for p in persons}
    events = [Event(e.person_id, e.name, e.occurred_at) for e in sources.app_events
              if e.person_id in keep]
    # a person without the app's signed_up_at signs up at their first signed_up event
    first = {}
    for e in sorted(events, key=lambda e: e.occurred_at):
        if e.name == "signed_up":
            first.setdefault(e.person_id, e.occurred_at)
    persons = [p if p.signed_up_at else Person(p.person_id, first.get(p.person_id),
                                               p.converted_at, p.churned_at) for p in persons]
    return drivers(persons, events, reference_candidates(variables), end=end,
                   **reference_options(variables))


def data_end_of(sources: Sources) -> dt.datetime:
    moments = [e.occurred_at for e in sources.app_events]
    for p in sources.persons:
        moments += [t for t in (p.signed_up_at, p.converted_at, p.churned_at) if t]
    return max(moments)


EVENTS = len(NAMES) * len(EVENT_AFTER)
# small cases (hypothesis draws every value of a batch: 200 cases of up to 4 users with up
# to 4 events fit its budget); the seeded batch below has bigger ones
USER = st.tuples(
    st.integers(-1, len(SIGNUP_AT) - 1),
    st.integers(-3, len(OUTCOME_AFTER) - 1),  # < 0: not converted (most)
    st.integers(-6, len(OUTCOME_AFTER) - 1),  # < 0: not churned (most)
    st.lists(st.integers(0, EVENTS - 1), max_size=4),
)
BATCH = st.lists(st.lists(USER, min_size=1, max_size=4), min_size=CASES, max_size=CASES)


def seeded_batch(seed: int) -> list:
    """A batch of BATCH's shape from a seeded generator, with bigger cases (4 to 10 users,
    up to 6 events each), so more of them have tests and ranks."""
    rng = random.Random(seed)
    return [[(rng.randint(-1, len(SIGNUP_AT) - 1), rng.randint(-3, len(OUTCOME_AFTER) - 1),
              rng.randint(-6, len(OUTCOME_AFTER) - 1),
              [rng.randrange(EVENTS) for _ in range(rng.randint(0, 6))])
             for _ in range(rng.randint(4, 10))] for _ in range(CASES)]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> CaseRunner:
    return CaseRunner(tmp_path_factory.mktemp("drivers-compiled"))


# one random batch, and one seeded batch of bigger cases
@settings(max_examples=1, phases=[Phase.explicit, Phase.generate], deadline=None,
          database=None, suppress_health_check=list(HealthCheck))
@example(cases=seeded_batch(16), closing=1)
@given(cases=BATCH, closing=st.integers(0, len(CLOSINGS) - 1))
def test_random_batches_agree_with_the_reference(runner: CaseRunner, cases: list,
                                                 closing: int) -> None:
    """One example is one batch of 200 cases in one warehouse (2 batches: 400 cases, about
    1,900 persons and 5,000 events), built once by dbt with the default vars: the mart over
    the whole batch is the reference's; then each case on its own, with each of CASE_RUNS'
    vars (800 comparisons), run from the compiled SQL on the case's rows."""
    sources, members = batch_sources(cases, closing)
    assume(len(sources.app_events) > 2 * CASES)  # not hypothesis' all-zero first batch
    end = data_end_of(sources)
    with tempfile.TemporaryDirectory(prefix="drivers-batch-") as folder:
        data = DataDir(Path(folder)).ensure()
        ingest(data, sources)
        build(data, first=True, tests=False)
        whole = reference_rows(sources, None, {}, end)
        assert differences(read_mart(data), whole) == [], closing
        assert any(d.is_ranked for d in whole.values())  # the batch tests the ranks
        checked = ranked = 0
        for i, ids in enumerate(members):
            for variables in CASE_RUNS:
                got = runner.run(data, f"c{i:03d}u", variables)
                expected = reference_rows(sources, ids, variables, end)
                assert differences(got, expected, reference_options(variables)["alpha"]) == [], (
                    i, variables, cases[i])
                checked += 1
                ranked += any(d.rank for d in expected.values())
        assert checked == CASES * len(CASE_RUNS) and ranked > 0


# -- the demo truth ---------------------------------------------------------------------------
def test_the_default_window_is_the_generators(warehouse) -> None:
    """The var's default is the window the generator plants the invite effect with
    (simulate.py INVITE_WINDOW_DAYS), so the demo's truth and the mart measure one thing."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["conversion_drivers_window_days"] == sim.INVITE_WINDOW_DAYS == 7
    data, _ = warehouse
    assert {d.window_days for d in read_mart(data).values()} == {sim.INVITE_WINDOW_DAYS}


def test_the_demo_recovers_the_planted_invite_effect(warehouse) -> None:
    """600 generated users (the session's `warehouse`). The generator plants: an invite in
    the first 7 days converts at 68%, no such invite at 18% (truth.json `planted`).

    - Exactly: truth.json's `conversion_drivers` counts the invite effect on the rows
      written, in the mart's own terms (decided app users; server invites at most 7 days
      after signup); the mart counts persons and every counted event, and must find the
      same four numbers (each app user is one person; a PostHog copy of an invite is not
      counted again; no invite lies near the window's end, simulate.py draws them 0.05-6.5
      or 8-13 days after signup).
    - Within tolerance, the planted rates: each observed rate is a binomial proportion of
      n persons, so |rate - planted| <= 4·sqrt(planted·(1 - planted)/n) (4 standard errors:
      a false alarm about once in 16,000 seeds), plus k/n for the k persons the mart counts
      and invite_conversion does not (decided before their 14 days ran out; these may all
      have converted, so they move the rate by at most k/n).
    - team_member_invited is rank 1: smallest q_value of all candidates, and significant."""
    data, _ = warehouse
    truth = json.loads((data.generated / "truth.json").read_text())
    rows = read_mart(data)
    invite = rows["team_member_invited"]
    measured = truth["conversion_drivers"]
    assert (invite.persons_with, invite.converted_with, invite.persons_without,
            invite.converted_without) == (measured["persons_with"], measured["converted_with"],
                                          measured["persons_without"],
                                          measured["converted_without"])
    assert invite.rank == 1 and invite.is_significant
    assert invite.q_value == min(d.q_value for d in rows.values() if d.q_value is not None)
    planted = truth["planted"]
    ended = truth["invite_conversion"]
    for rate, n, p, n_ended in (
            (invite.rate_with, invite.persons_with, planted["p_convert_with_invite"],
             ended["persons_with"]),
            (invite.rate_without, invite.persons_without, planted["p_convert_without_invite"],
             ended["persons_without"])):
        assert n >= n_ended
        tolerance = 4 * math.sqrt(p * (1 - p) / n) + (n - n_ended) / n
        assert abs(rate - p) <= tolerance, (rate, p, tolerance)
    # the mart's population is invite_conversion's plus the persons decided early
    assert ended["persons_with"] + ended["persons_without"] <= (
        invite.persons_with + invite.persons_without)


def test_the_truth_agrees_with_an_independent_reading_of_the_files(warehouse) -> None:
    """truth.json's `conversion_drivers`, counted again from the written files (the app's
    users and events) by the test's own reading."""
    data, ref = warehouse
    truth = json.loads((data.generated / "truth.json").read_text())["conversion_drivers"]
    end = ref.data_end
    invited = {e["user_id"] for e in ref.app_events if e["name"] == "team_member_invited"
               and dt.timedelta(0) <= e["created_at"] - ref.users[e["user_id"]]["signed_up_at"]
               <= dt.timedelta(days=sim.INVITE_WINDOW_DAYS)}
    counts = dict.fromkeys(("persons_with", "converted_with", "persons_without",
                            "converted_without"), 0)
    for uid, user in ref.users.items():
        decided = (user["converted_at"] is not None or user["churned"] == "true"
                   or user["signed_up_at"] + dt.timedelta(days=sim.TRIAL_DAYS) <= end)
        if decided:
            side = "with" if uid in invited else "without"
            counts[f"persons_{side}"] += 1
            counts[f"converted_{side}"] += user["converted_at"] is not None
    assert counts == {k: truth[k] for k in counts}
