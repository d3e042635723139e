"""The marts are a versioned, published interface (CHANGELOG.md): every mart is public,
owned, contracted and versioned; the plain name answers with the latest version; a
released version's contract cannot change without a new version; `journeys docs` shows
all of it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import yaml

from journeys import contracts
from journeys.paths import DATA_DIR_ENV, PROJECT_DIR, DataDir

BIN = Path(sys.executable).parent

# The published marts and their versions, as CHANGELOG.md lists them (written by hand:
# a mart added or a version dropped must change this list and the changelog together).
VERSIONS = {
    ("dim_persons", 1), ("dim_persons", 2),
    ("fct_events", 1), ("fct_sessions", 1),
    ("fct_funnel_persons", 1), ("fct_funnel_steps", 1), ("fct_funnel_trends", 1),
    ("fct_funnel_time_to_convert", 1),
    ("fct_cohort_retention", 1), ("fct_retention_by_period", 1),
    ("fct_tracking_plan_coverage", 1), ("fct_data_quality_issues", 1),
    ("fct_tracking_loss", 1), ("fct_daily_metrics", 1),
    ("fct_conversion_drivers", 1),
    ("fct_lifecycle", 1), ("fct_intervention_triggers", 1),
    ("fct_journey_edges", 1), ("fct_journey_paths", 1), ("fct_journey_paths_before", 1),
    ("dim_person_segments", 1), ("fct_segment_history", 1), ("fct_segment_transitions", 1),
}
LATEST = {"dim_persons": 2}  # every other mart: 1


def dbt(project: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, DATA_DIR_ENV: str(work), "JOURNEYS_TARGET": "duckdb"}
    return subprocess.run(
        [str(BIN / "dbt"), *args, "--project-dir", str(project), "--profiles-dir",
         str(project), "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        env=env, cwd=project, capture_output=True, text=True, check=False)


def project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_DIR / name, copy / name)
    for name in ("models", "macros", "seeds", "analyses", "state", "tests/dbt"):
        shutil.copytree(PROJECT_DIR / name, copy / name)
    return copy


def manifest_models(manifest: dict) -> dict[str, dict]:
    return {uid: node for uid, node in manifest["nodes"].items()
            if node["resource_type"] == "model"}


def test_dbt_lists_every_mart_version_public_owned_and_contracted(tmp_path: Path) -> None:
    result = dbt(PROJECT_DIR, tmp_path, "ls", "--resource-type", "model", "--select", "marts",
                 "--output", "json", "--output-keys", "name version access group config",
                 "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    listed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert {(m["name"], m["version"]) for m in listed} == VERSIONS
    for mart in listed:
        assert mart["access"] == "public", mart
        assert mart["group"], mart
        assert mart["config"]["contract"]["enforced"], mart

    result = dbt(PROJECT_DIR, tmp_path, "parse")
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    models = manifest_models(manifest)
    for node in models.values():
        if node["name"] in LATEST or (node["name"], 1) in VERSIONS:
            assert node["latest_version"] == LATEST.get(node["name"], 1), node["name"]
            assert node["alias"] == f"{node['name']}_v{node['version']}"
        else:  # staging and intermediate are the project's own
            assert node["access"] in ("protected", "private"), node["name"]
    owners = {group["name"]: group["owner"] for group in manifest["groups"].values()}
    assert {node["group"] for node in models.values() if node["access"] == "public"} <= set(owners)
    assert all(owner.get("name") or owner.get("email") for owner in owners.values())
    deprecated = {(n["name"], n["version"]): n["deprecation_date"] for n in models.values()
                  if n.get("deprecation_date")}
    assert list(deprecated) == [("dim_persons", 1)]


def test_the_plain_name_is_the_latest_version_and_v1_still_answers(warehouse) -> None:
    data, _ = warehouse
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        kinds = dict(con.execute(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'marts'").fetchall())
        for name, version in VERSIONS:
            assert kinds[f"{name}_v{version}"] == "BASE TABLE"
            assert kinds[name] == "VIEW"
            latest = f"{name}_v{LATEST.get(name, 1)}"
            for left, right in ((name, latest), (latest, name)):
                assert con.execute(f"select count(*) from (from marts.{left} "
                                   f"except all from marts.{right})").fetchone() == (0,)
        assert len(kinds) == len(VERSIONS) + len({name for name, _ in VERSIONS})

        v2 = con.execute("select person_id, first_touch_source, utm_source, "
                         "initial_referring_domain from marts.dim_persons").fetchall()
        v1 = dict(con.execute("select person_id, first_touch_source "
                              "from marts.dim_persons_v1").fetchall())
        v1_columns = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'dim_persons_v1'").fetchall()]
    # version 1's meaning, computed here: the raw utm_source, else the raw referring domain
    assert v1 == {person: utm if utm is not None else domain
                  for person, _, utm, domain in v2}
    assert "first_touch_origin" not in v1_columns and "first_touch_source" in v1_columns
    # the generator sends Google visits as www.google.com referrals and as `google` utms:
    # one channel in version 2, two values in version 1
    v2_sources = {source for _, source, _, _ in v2}
    assert "google" in v2_sources and "www.google.com" not in v2_sources
    assert {"google", "www.google.com"} <= set(v1.values())


def test_the_project_keeps_its_released_contracts() -> None:
    """The check `make test` runs on the project itself: state/manifest.json is the last
    release; nothing released changed incompatibly since."""
    result = contracts.check()
    assert result.ok, result.output[-4000:]


def test_a_removed_column_fails_the_check_and_a_new_version_passes(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    yml = project / "models" / "marts" / "core" / "_core__models.yml"
    sql = project / "models" / "marts" / "core" / "fct_sessions.sql"
    original_yml, original_sql = yml.read_text(), sql.read_text()

    # remove exit_event_name from fct_sessions, in place: a breaking change to version 1
    start = original_yml.index("      - name: exit_event_name\n")
    end = original_yml.index("      - name:", start + 1)
    yml.write_text(original_yml[:start] + original_yml[end:])
    assert original_sql.count("        sessions.exit_event_name,\n") == 1
    sql.write_text(original_sql.replace("        sessions.exit_event_name,\n", ""))
    result = contracts.check(project)
    assert not result.ok
    assert "Breaking change to contract" in result.output, result.output[-3000:]
    assert "fct_sessions" in result.output and "exit_event_name" in result.output

    # the same change as a new version: v1 kept as it was (deprecated), v2 without the
    # column, and a model that still reads v1 (dbt warns about it)
    sql.write_text(original_sql)
    (sql.parent / "fct_sessions_v2.sql").write_text(
        "select * exclude (exit_event_name) from {{ ref('fct_sessions', v=1) }}\n")
    marker = "  - name: fct_sessions\n"
    block_start = original_yml.index(marker)
    block_end = original_yml.index("    latest_version: 1\n    versions:\n      - v: 1\n",
                                   block_start)
    yml.write_text(
        original_yml[:block_end]
        + "    latest_version: 2\n    versions:\n"
          "      - v: 2\n        columns:\n          - include: all\n"
          "            exclude: [exit_event_name]\n"
          "      - v: 1\n        defined_in: fct_sessions\n"
          "        deprecation_date: 2099-01-01\n"
        + original_yml[block_end + len("    latest_version: 1\n    versions:\n      - v: 1\n"):])
    (project / "models" / "marts" / "core" / "reads_v1.sql").write_text(
        "select session_id from {{ ref('fct_sessions', v=1) }}\n")
    result = contracts.check(project)
    assert result.ok, result.output[-3000:]
    assert "fct_sessions.v1" in result.output and "deprecat" in result.output.lower(), (
        result.output[-3000:])


def test_journeys_docs_writes_one_static_file_with_every_mart(warehouse, tmp_path) -> None:
    built, _ = warehouse
    data = DataDir(tmp_path / "data").ensure()  # a copy: docs rewrite the target folder
    for db in (built.warehouse_db, built.raw_db):
        shutil.copy(db, data.root / db.name)
    result = subprocess.run([str(BIN / "journeys"), "docs", "--data-dir", str(data.root)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    site = Path(result.stdout.strip().splitlines()[-1])
    assert site == data.root / "docs" / "index.html" and site.is_file()
    html = site.read_text()
    decoder = json.JSONDecoder()
    manifest, _ = decoder.raw_decode(html, html.index("manifest:") + len("manifest:"))
    catalog, _ = decoder.raw_decode(html, html.index("catalog:") + len("catalog:"))
    models = manifest_models(manifest)
    for name, version in VERSIONS:
        node = models[f"model.journeys.{name}.v{version}"]
        assert node["access"] == "public" and node["description"].strip()
        assert f"model.journeys.{name}.v{version}" in catalog["nodes"]  # types from the db
        assert all(c["description"].strip() for c in node["columns"].values()), name
    assert models["model.journeys.dim_persons.v1"]["deprecation_date"].startswith("2027-03-31")
    # the lineage: every mart reaches back to a source
    parents = manifest["parent_map"]

    def reaches_a_source(uid: str, seen: set[str]) -> bool:
        return any(p.startswith("source.") or (p not in seen and reaches_a_source(
            p, seen | {p})) for p in parents.get(uid, []))

    for name, version in VERSIONS:
        assert reaches_a_source(f"model.journeys.{name}.v{version}", set()), name


def test_journeys_contracts_passes_on_the_project() -> None:
    result = subprocess.run([str(BIN / "journeys"), "contracts"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking change" in result.stderr


def test_the_changelog_lists_this_release_and_every_version() -> None:
    """The package version moves with the marts: the newest CHANGELOG.md release is the
    version in pyproject.toml and dbt_project.yml, and its table names every version."""
    changelog = (PROJECT_DIR / "CHANGELOG.md").read_text()
    released = re.findall(r"^## (\d+\.\d+\.\d+)", changelog, flags=re.MULTILINE)
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    dbt_project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert released[0] == pyproject["project"]["version"] == dbt_project["version"]
    table = changelog.split("## Versions", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed = {(name, int(v)) for line in rows for name in re.findall(r"`(\w+)`", line)
              for v in re.findall(r"v(\d+)", line.split("|")[2])}
    assert listed == VERSIONS
