"""Funnels configured as data (issue 15): a bad definition fails at compile time naming
the funnel and the field; the demo's activation funnel matches the generator's truth;
`journeys funnel` builds a one-off funnel without touching the configured marts.

The step counts themselves are checked against the plain-Python reference in
test_funnel_agreement.py (random cases) and the hand cases there."""

from __future__ import annotations

import json
import math

import duckdb
import pytest
from click.testing import CliRunner

from journeys.cli import main
from journeys.dbt import run_dbt
from journeys.paths import DataDir

GOOD_STEPS = [{"event": "signed_up"}, {"event": "workspace_created"}]


@pytest.mark.parametrize(
    ("funnel", "message"),
    [
        ({"name": "a", "steps": GOOD_STEPS, "order": "sideways"},
         "funnel 'a': order must be ordered, strict or unordered, got 'sideways'"),
        ({"name": "b", "steps": []}, "funnel 'b': steps must be a list of 1 to 10 steps"),
        ({"name": "c", "steps": GOOD_STEPS, "window_days": 14, "window_hours": 3},
         "funnel 'c': give one of window_days, window_hours, window_seconds, not "
         "window_days and window_hours"),
        ({"name": "d", "steps": GOOD_STEPS, "breakdown": "favourite_colour"},
         "funnel 'd': breakdown 'favourite_colour' is not a dim_persons column"),
        ({"name": "e", "steps": GOOD_STEPS, "exclusions": [{"event": "x", "between": [2, 1]}]},
         "funnel 'e': exclusions[1].between must be [i, j] with 1 <= i < j <= 2"),
        ({"name": "f", "steps": GOOD_STEPS, "date_from": "2026-02-30"},
         "funnel 'f': date_from is not a date: 2026-02-30"),
        ({"name": "g", "steps": [{"event": "signed_up", "where_person": {"shoe_size": 9}}]},
         "funnel 'g': steps[1].where_person.shoe_size is not a dim_persons column"),
    ],
    ids=["order", "no-steps", "two-windows", "breakdown-column", "exclusion", "date",
         "where-person"],
)
def test_a_bad_funnel_fails_at_compile_time_naming_funnel_and_field(
    funnel: dict, message: str, tmp_path, capfd: pytest.CaptureFixture
) -> None:
    data = DataDir(tmp_path).ensure()
    result = run_dbt(data, "compile", ["--select", "fct_funnel_steps",
                                       "--vars", json.dumps({"funnels": [funnel]})])
    output = capfd.readouterr().out
    assert not result.ok
    assert "Compilation Error" in output
    assert f"var 'funnels': {message}" in output
    # never an SQL error from deep inside a model
    assert not any(e in output for e in ("Parser Error", "Binder Error", "Catalog Error",
                                         "Conversion Error", "Database Error"))


def test_the_demo_activation_funnel_matches_the_generator_truth(warehouse) -> None:
    """The generator plants each user's activation steps and writes, in truth.json, how
    many persons its own plan reaches each step (computed from the plan, not the files).
    The mart must give the planted counts, and its step rates must lie within 4 binomial
    standard errors (n = the previous step's persons) of the planted rates."""
    data, _ = warehouse
    truth = json.loads((data.generated / "truth.json").read_text())
    planted = truth["activation_funnel"]["steps"]
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        rows = con.execute(
            "select step_number, persons_reached, conversion_from_previous "
            "from marts.fct_funnel_steps where funnel_name = 'activation' "
            "order by step_number").fetchall()
    assert [r[1] for r in rows] == [s["persons_reached"] for s in planted]
    for (step, _, rate), step_truth in zip(rows[1:], planted[1:], strict=True):
        p, n = step_truth["conversion_from_previous"], rows[step - 2][1]
        tolerance = 4 * math.sqrt(p * (1 - p) / n)
        assert abs(rate - p) <= tolerance, (step, rate, p, tolerance)


def test_journeys_funnel_builds_a_one_off_funnel_beside_the_configured_ones(
    warehouse,
) -> None:
    data, _ = warehouse
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        before = con.execute(
            "select * from marts.fct_funnel_steps order by all").fetchall()
        # worked out from fct_events, independently of the funnel models: persons with a
        # signed_up, and those with an upgrade_page_viewed at most 14 days after one
        entered, converted = con.execute("""
            with s as (select person_id, occurred_at from marts.fct_events
                       where is_counted and event_name = 'signed_up'),
                 u as (select person_id, occurred_at from marts.fct_events
                       where is_counted and event_name = 'upgrade_page_viewed')
            select (select count(distinct person_id) from s),
                   (select count(distinct s.person_id) from s join u using (person_id)
                    where u.occurred_at >= s.occurred_at
                      and u.occurred_at <= s.occurred_at + interval 14 day)
        """).fetchone()
    result = CliRunner().invoke(main, ["funnel", "--data-dir", str(data.root), "signed_up",
                                       "upgrade_page_viewed", "--window", "14d"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "│" in line]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines]
    assert cells[0][:3] == ["1", "signed_up", f"{entered:,}"]
    assert cells[1][:3] == ["2", "upgrade_page_viewed", f"{converted:,}"]
    assert cells[1][3] == f"{converted / entered:.1%}"
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        assert con.execute(
            "select * from marts.fct_funnel_steps order by all").fetchall() == before
        assert con.execute(
            "select distinct funnel_name from adhoc_marts.fct_funnel_steps").fetchall() == [
            ("adhoc",)]


def test_journeys_funnel_refuses_a_bad_window_before_building(tmp_path) -> None:
    data = DataDir(tmp_path).ensure()
    (data.warehouse_db).touch()
    result = CliRunner().invoke(main, ["funnel", "--data-dir", str(data.root), "signed_up",
                                       "--window", "two weeks"])
    assert result.exit_code == 2
    assert "--window 'two weeks': give a whole number with d, h or s" in result.output
