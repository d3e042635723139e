"""Issue 14, item 6: the customer's data quality never stops the warehouse.

Data tests that describe the customer's data (a user without email or signup time, a plan
outside the list, an event of a user the users table lacks) warn; the build goes on to
every mart, dbt and `journeys build` / `journeys demo` say how many rows each rule found,
and marts.fct_data_quality_issues lists those rows with their keys. Expected rows come from
the files: hand-written CSVs here, the generator's users.csv for the demo."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from journeys import generator, quality
from journeys.dbt import run_dbt, target_dir
from journeys.ingest import run_source
from journeys.paths import DataDir

DEMO_USERS = 600
DEFECTS = 0.01  # 1% of 600 users: 6 users without email and signup time

USERS_CSV = """\
id,email,signed_up_at,plan,converted_at,churned,churned_at,updated_at
1,a@x.io,2026-05-04 10:00:00.000,trial,,false,,2026-05-04 10:00:00.000
2,,2026-05-04 11:00:00.000,trial,,false,,2026-05-04 11:00:00.000
3,"   ",2026-05-05 09:00:00.000,pro,2026-05-06 09:00:00.000,false,,2026-05-06 09:00:00.000
4,d@x.io,,trial,,false,,2026-05-05 12:00:00.000
5,e@x.io,2026-05-06 08:00:00.000,enterprise,,false,,2026-05-06 08:00:00.000
6,f@x.io,2026-05-06 09:00:00.000,,,false,,2026-05-06 09:00:00.000
"""
EVENTS_CSV = """\
id,user_id,name,properties,session_id,created_at
1,1,signed_up,{},,2026-05-04 10:00:01.000
2,99,workspace_created,{},,2026-05-04 10:05:00.000
3,4,workspace_created,{},,2026-05-05 12:30:00.000
"""
# worked out by hand from the two files above: (model, column, rule, row key, value)
EXPECTED_ISSUES = {
    ("stg_app__users", "email", "not_blank", "2", None),  # no email
    ("stg_app__users", "email", "not_blank", "3", None),  # blank: staging reads it as none
    ("stg_app__users", "signed_up_at", "not_null", "4", None),
    ("stg_app__users", "plan", "accepted_values", "5", "enterprise"),
    ("stg_app__users", "plan", "not_null", "6", None),
    ("stg_app__events", "user_id", "relationships", "2", "99"),  # user 99 is no user
}


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def run_results(data: DataDir) -> list[dict]:
    return json.loads((target_dir(data) / "run_results.json").read_text())["results"]


def assert_every_model_built(data: DataDir) -> None:
    """Every model of the project ran and succeeded; every test passed or warned."""
    manifest = json.loads((target_dir(data) / "manifest.json").read_text())
    models = {uid for uid, node in manifest["nodes"].items()
              if node["resource_type"] == "model"}
    results = {r["unique_id"]: r["status"] for r in run_results(data)}
    assert {uid: results.get(uid) for uid in models} == dict.fromkeys(models, "success")
    bad = {uid: s for uid, s in results.items() if s not in ("success", "pass", "warn")}
    assert not bad
    assert any(uid.startswith("model.journeys.fct_") for uid in models)


def test_warn_rules_list_each_offending_row_and_every_mart_builds(tmp_path: Path) -> None:
    files = tmp_path / "app"
    files.mkdir()
    (files / "users.csv").write_text(USERS_CSV)
    (files / "events.csv").write_text(EVENTS_CSV)
    data = DataDir(tmp_path / "warehouse").ensure()
    run_source(data, "app-files", str(files))
    result = run_dbt(data, "build", quiet=True)
    assert result.ok
    assert_every_model_built(data)

    issues = set(query(data.warehouse_db,
                       "select model_name, column_name, rule_name, row_key, offending_value "
                       "from marts.fct_data_quality_issues"))
    assert issues == EXPECTED_ISSUES
    # what `journeys build` reports per rule: the same rows, counted
    counted = {(f.checks, f.rule): f.rows for f in quality.findings(data)
               if f.rule != "singular"}
    assert counted == {("stg_app__users.email", "not_blank"): 2,
                       ("stg_app__users.signed_up_at", "not_null"): 1,
                       ("stg_app__users.plan", "accepted_values"): 1,
                       ("stg_app__users.plan", "not_null"): 1,
                       ("stg_app__events.user_id", "relationships"): 1}
    # the users are persons all the same; user 4 has no signup anywhere (no signed_up event)
    persons = dict(query(data.warehouse_db, "select app_user_id, signed_up_at is null "
                                            "from marts.dim_persons where app_user_id is not null"))
    assert persons == {"1": False, "2": False, "3": False, "4": True, "5": False, "6": False}


def test_defects_are_a_fraction_of_users_chosen_by_the_seed(tmp_path: Path) -> None:
    def blanked(seed: int, folder: str) -> tuple[set[str], str]:
        out = tmp_path / folder
        generator.generate(out, users=200, seed=seed, defects=0.05)
        with (out / "app" / "users.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        # each blanked row lacks both; no other row lacks either
        assert all((r["email"] == "") == (r["signed_up_at"] == "") for r in rows)
        return {r["id"] for r in rows if r["email"] == ""}, (out / "app" / "schema.sql").read_text()

    first, schema = blanked(5, "a")
    again, _ = blanked(5, "b")
    other, _ = blanked(6, "c")
    assert len(first) == 10 and first == again and other != first  # 5% of 200, by the seed
    # the app's table must accept such rows (the demo replays it into Postgres)
    assert "    email text,\n" in schema and "    signed_up_at timestamp(3),\n" in schema
    with pytest.raises(ValueError, match="--defects"):
        generator.generate(tmp_path / "bad", users=10, defects=1.5)


def journeys(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "journeys.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=False)


def planted(users_csv: Path) -> dict[str, set[str]]:
    """The users the generator left without each column, read from its users.csv."""
    with users_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == DEMO_USERS
    return {column: {row["id"] for row in rows if row[column] == ""}
            for column in ("email", "signed_up_at")}


def summary_rows(output: str) -> dict[tuple[str, str], int]:
    """The data-quality table `journeys build` / `journeys demo` print: (checks, rule) -> rows."""
    cells = re.findall(r"│ (\S+)\s+│ (\S+)\s+│\s+([\d,]+) │", output)
    return {(checks, rule): int(rows.replace(",", "")) for checks, rule, rows in cells}


def test_a_demo_with_one_percent_of_users_lacking_email_and_signup_builds_every_mart(
        tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo = journeys("demo", "--users", str(DEMO_USERS), "--seed", "11",
                    "--defects", str(DEFECTS), env={"JOURNEYS_DATA_DIR": str(folder)})
    assert demo.returncode == 0, demo.stderr[-3000:]
    data = DataDir(folder)
    bad = planted(data.generated / "app" / "users.csv")
    assert len(bad["email"]) == len(bad["signed_up_at"]) == 6
    assert bad["email"] == bad["signed_up_at"]  # the same 1%: no email and no signup time
    assert_every_model_built(data)
    # dbt's own line for each warn test, then the demo's summary per rule
    assert re.search(r"WARN 6 not_blank_stg_app__users_email\b", demo.stdout)
    assert re.search(r"WARN 6 not_null_stg_app__users_signed_up_at\b", demo.stdout)
    assert "Got 6 results, configured to warn if != 0" in demo.stdout
    printed = summary_rows(demo.stderr)
    assert printed[("stg_app__users.email", "not_blank")] == 6
    assert printed[("stg_app__users.signed_up_at", "not_null")] == 6
    assert "marts.fct_data_quality_issues lists them" in demo.stderr
    # the rows behind the counts: exactly the planted users
    for column, rule in (("email", "not_blank"), ("signed_up_at", "not_null")):
        keys = {row[0] for row in query(
            data.warehouse_db, "select row_key from marts.fct_data_quality_issues "
            f"where model_name = 'stg_app__users' and column_name = '{column}' "
            f"and rule_name = '{rule}'")}
        assert keys == bad[column]
    assert query(data.warehouse_db, "select count(*) from marts.dim_persons where app_user_id "
                 f"in ({', '.join(repr(k) for k in sorted(bad['email']))})") == [(6,)]

    # `journeys build` says the same after its dbt output
    build = journeys("build", "--data-dir", str(folder), "--", "--select", "stg_app__users")
    assert build.returncode == 0, build.stderr[-3000:]
    printed = summary_rows(build.stderr)
    assert printed[("stg_app__users.email", "not_blank")] == 6
    assert printed[("stg_app__users.signed_up_at", "not_null")] == 6
