"""The tracking plan as code: its naming rules, `journeys lint-plan`, and the coverage mart
on a real build into which misspelled, removed and mistyped events were planted. Expected
volumes are counted from the files written here and tests/reference.py, never read back
from the mart."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest

from journeys import generator
from journeys.dbt import run_dbt
from journeys.ingest import run_source
from journeys.paths import DataDir
from journeys.plan import (
    PlanError,
    TrackingPlan,
    canonical,
    check_event,
    lint,
    load_plan,
    name_problems,
)
from tests.reference import Generated

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def journeys_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "journeys.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, check=False)


# -- the plan and its naming rules ------------------------------------------------------


def test_the_shipped_plan_follows_its_own_rules() -> None:
    plan = load_plan()
    assert lint(plan) == []
    statuses = {e.status for e in plan.events.values()}
    assert statuses == {"proposed", "active", "deprecated", "removed"}
    assert plan.events["trial_extended"].properties["extension_days"].type == "number"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Signed_Up", "snake_case"),
        ("signedUp", "snake_case"),
        ("signed-up", "snake_case"),
        ("1st_item_created", "start with a letter"),
        ("_item_created", "start with a letter"),
        ("item__created", "snake_case"),
        ("item_create", "approved past-tense verb"),
        ("click_button", "approved past-tense verb"),
        ("created", "needs an object"),
        ("a_very_long_object_name_for_a_simple_thing_created", "at most 40"),
    ],
)
def test_names_breaking_a_rule_say_which(name: str, problem: str) -> None:
    assert any(problem in p for p in name_problems(name)), name_problems(name)


@pytest.mark.parametrize(
    "name", ["signed_up", "logged_in", "workspace_created", "api_call_made", "plan_upgraded",
             "first_integration_connected", "x" * 32 + "_created"],
)
def test_good_names_pass(name: str) -> None:
    assert name_problems(name) == []


def test_names_equal_but_for_case_or_separators_collide(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "seeds")
    with open(tmp_path / "seeds" / "tracking_plan.csv", "a", encoding="utf-8") as handle:
        handle.write("Workspace-Created,activation,both,product,active,dup\n")
    findings = lint(load_plan(tmp_path / "seeds"))
    assert [(f.subject, f.severity) for f in findings if "only by case" in f.message] == [
        ("Workspace-Created", "error")]
    assert canonical("Workspace-Created") == canonical("workspace_created") == "workspacecreated"


def test_a_broken_plan_file_names_the_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "seeds")
    lines = (tmp_path / "seeds" / "tracking_plan.csv").read_text().splitlines()
    lines[3] = lines[3].replace(",active,", ",live,")
    (tmp_path / "seeds" / "tracking_plan.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(PlanError, match=r"tracking_plan.csv:4: status 'live'"):
        load_plan(tmp_path / "seeds")
    result = journeys_cli("lint-plan", "--no-data", "--plan-dir", str(tmp_path / "seeds"))
    assert result.returncode == 1 and "tracking_plan.csv:4" in result.stderr


def test_check_event_against_the_plan() -> None:
    plan: TrackingPlan = load_plan()
    assert check_event(plan, "signed_up", {"signup_method": "email"}) == []
    assert check_event(plan, "$pageview", {}) == []
    [unknown] = check_event(plan, "Signed_Up", {})
    assert unknown.severity == "error" and "'signed_up'" in unknown.message
    [typed] = check_event(plan, "trial_extended", {"extension_days": "7"})
    assert "should be a number, got a string" in typed.message
    [missing] = check_event(plan, "plan_upgraded", {})
    assert missing.subject == "plan_upgraded.plan" and "required" in missing.message
    [deprecated] = check_event(plan, "session_started", {})
    assert deprecated.severity == "warning"
    assert [f.severity for f in check_event(plan, "item_created", {})] == ["error"]


# -- the coverage mart and lint-plan on a real build ------------------------------------


def planted_row(template: dict, event: str, at: dt.datetime, properties: dict) -> dict:
    row = json.loads(json.dumps(template))
    row.update(uuid=str(uuid.uuid4()), event=event, timestamp=at.isoformat(),
               _inserted_at=at.isoformat(), created_at=at.isoformat())
    row["properties"] = {**row["properties"], **properties}
    return row


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, dict]:
    """150 users, plus an extra export file holding events that break the plan."""
    data = DataDir(tmp_path_factory.mktemp("plan")).ensure()
    generator.generate(data.generated, users=150, seed=3)
    ref = Generated(data.generated)
    end = ref.data_end
    template = next(e for e in ref.export_rows if e["event"] == "$pageview")
    recent, older = end - dt.timedelta(days=1), end - dt.timedelta(days=30)
    rows = (
        [planted_row(template, "Signed_Up", recent, {}) for _ in range(3)]
        + [planted_row(template, "Signed_Up", older, {}) for _ in range(2)]
        + [planted_row(template, "item_created", older, {"item_type": "project"})]
        + [planted_row(template, "trial_extended", recent, {"extension_days": "7"})]
    )
    exports = data.generated / "posthog" / "events"
    (exports / "zz-planted.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
        for source in ("posthog-files", "app-files"):
            run_source(data, source)
    result = run_dbt(data, "build", quiet=True)
    assert result.ok, result.statuses  # data breaking the plan never fails the build
    sent = [(e["event"], e["ts"]) for e in ref.export_events.values()]
    sent += [(e["name"], e["created_at"]) for e in ref.app_events]
    as_of = end.date()  # the 7-day window ends on the data's last day

    def last_7d(at: dt.datetime) -> bool:
        return as_of - dt.timedelta(days=7) < at.date() <= as_of

    extended = [at for name, at in sent if name == "trial_extended"]
    expected = {
        "deprecated": sum(name == "session_started" for name, _ in sent),
        "trial_extended": (len(extended) + 1, sum(map(last_7d, extended)) + 1),
        "warned": result.count("test", "warn"),
    }
    return data, expected


def coverage(data: DataDir) -> dict[str, tuple]:
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        rows = con.execute(
            "select event_name, plan_status, finding, similar_planned_event, events, "
            "events_last_7d, mistyped_properties from marts.fct_tracking_plan_coverage"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_coverage_names_the_misspelled_removed_and_mistyped_events(planted) -> None:
    data, expected = planted
    rows = coverage(data)
    assert rows["Signed_Up"] == ("unknown", "unknown_event", "signed_up", 5, 3, 0)
    assert rows["item_created"] == ("removed", "removed_event_arriving", None, 1, 0, 0)
    assert rows["trial_extended"][1:] == ("mistyped_properties", None,
                                          *expected["trial_extended"], 1)
    assert rows["session_started"][:2] == ("deprecated", "deprecated_event_arriving")
    assert rows["session_started"][3] == expected["deprecated"] > 0
    assert rows["workspace_shared"] == ("proposed", "ok", None, 0, 0, 0)
    assert rows["signed_up"][1] == "ok"
    assert not any(name.startswith("$") for name in rows)
    # the plan's warn-severity tests fire, one per kind of finding: unknown, removed,
    # deprecated, mistyped
    assert expected["warned"] == 4


def test_lint_plan_names_them_from_the_warehouse(planted) -> None:
    data, expected = planted
    result = journeys_cli("lint-plan", "--data-dir", str(data.root))
    assert result.returncode == 1, result.stderr
    out = " ".join(result.stderr.split())
    assert "error: Signed_Up: arrived but is not in the tracking plan (5 events, 3 in the 7" in out
    assert "looks like 'signed_up'" in out and "must be snake_case" in out
    assert "error: item_created: removed event arriving (1 events" in out
    assert f"warning: session_started: deprecated event arriving ({expected['deprecated']:,}" in out
    assert "warning: trial_extended: 1 properties arrived with another type" in out
    assert "2 errors, 2 warnings" in out
    assert journeys_cli("lint-plan", "--no-data", "--data-dir", str(data.root)).returncode == 0
