"""Issue 14, item 5: a raw table may lack any optional column, never a key column.

Every source is loaded for real (generated files, the local HubSpot, Intercom and PostHog
stand-ins), then for each staging model and each raw table it reads, every column the
model reads (taken from the model's own column list) is dropped in turn from a copy of the
raw database and the model is built: an optional column must come out null and the model
build; a key column must stop that model with one error naming the table and the column.
Cases on different tables share a build (never two on one model), so the whole sweep is a
few dozen short `dbt run`s. Last, one full `dbt build` with every optional column of every
table dropped at once proves that what staging feeds builds on the nulls too.

The key columns are written here by hand (SEMANTICS.md, Clean rows first: PostHog's uuid,
distinct_id, timestamp and event; other records their id, app events also their user;
plus the dedup columns and the timestamps a row cannot exist without)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from journeys import generator
from journeys.dbt import run_dbt, target_dir
from journeys.ingest import run_source
from journeys.paths import DATA_DIR_ENV, PROJECT_DIR, DataDir
from journeys.stand_ins.hubspot import HubSpotAPI, load_generated
from journeys.stand_ins.intercom import IntercomAPI
from journeys.stand_ins.posthog import PostHogQueryAPI

USERS = 60  # enough for every raw table to exist with rows (deals, stage history, ...)

# (model, raw table) -> the key columns that model cannot do without
KEYS: dict[tuple[str, str], set[str]] = {
    ("stg_app__users", "app.users"): {"id"},
    ("stg_app__events", "app.events"): {"id", "user_id", "name", "created_at"},
    ("stg_posthog__events", "posthog.events"): {"uuid", "distinct_id", "timestamp", "event"},
    ("stg_posthog__events", "posthog.api_events"): {"uuid", "distinct_id", "timestamp",
                                                    "event"},
    ("stg_posthog__persons", "posthog.api_persons"): {"id"},
    ("stg_posthog__person_distinct_ids", "posthog.api_person_distinct_ids"): {
        "distinct_id", "person_id"},
    ("stg_hubspot__contacts", "hubspot.contacts"): {"id", "properties__lastmodifieddate"},
    ("stg_hubspot__companies", "hubspot.companies"): {"id", "properties__hs_lastmodifieddate"},
    ("stg_hubspot__deals", "hubspot.deals"): {"id", "properties__hs_lastmodifieddate"},
    ("stg_hubspot__deal_stage_history", "hubspot.deal_stage_history"): {
        "deal_id", "stage", "changed_at"},
    ("stg_hubspot__associations", "hubspot.contact_company_associations"): {"from_id", "to_id"},
    ("stg_hubspot__associations", "hubspot.deal_company_associations"): {"from_id", "to_id"},
    ("stg_hubspot__associations", "hubspot.deal_contact_associations"): {"from_id", "to_id"},
    ("stg_intercom__contacts", "intercom.contacts"): {"id", "updated_at"},
    ("stg_intercom__conversations", "intercom.conversations"): {"id", "created_at",
                                                                "updated_at"},
    ("stg_intercom__conversation_contacts", "intercom.conversations"): {"id", "_dlt_id"},
    ("stg_intercom__conversation_contacts", "intercom.conversations__contacts__contacts"): {
        "id", "_dlt_parent_id"},
}

SCHEMAS = {"app": "raw_app", "posthog": "raw_posthog", "hubspot": "raw_hubspot",
           "intercom": "raw_intercom"}
CALL = re.compile(r"journeys\.(?:source_columns|source_or_empty)\(\s*'(\w+)',\s*'(\w+)',"
                  r"\s*(\w+)")
SET_DICT = re.compile(r"\{%-?\s*set (\w+) = \{(.*?)\}\s*-?%\}", re.S)
SET_LIST = re.compile(r"\{%-?\s*set (\w+) = \[(.*?)\]\s*-?%\}", re.S)


# -- what each staging model reads, from its own source ---------------------------------


def model_sources(sql: str) -> dict[str, list[str]]:
    """raw table (`source.table`) -> the columns the model reads from it, from the model's
    `source_columns(source, table, <column dict>, ...)` calls."""
    dicts = {name: re.findall(r"'(\w+)'\s*:", body) for name, body in SET_DICT.findall(sql)}
    return {f"{source}.{table}": dicts[var] for source, table, var in CALL.findall(sql)}


def model_keys(sql: str) -> dict[str, set[str]]:
    """raw table -> the key columns the model passes to source_columns."""
    lists = {name: set(re.findall(r"'(\w+)'", body)) for name, body in SET_LIST.findall(sql)}
    calls = re.findall(r"journeys\.source_columns\(\s*'(\w+)',\s*'(\w+)',\s*\w+,\s*(\w+)\)",
                       sql)
    return {f"{source}.{table}": lists[var] for source, table, var in calls}


def staging_models() -> dict[str, str]:
    return {path.stem: path.read_text()
            for path in sorted((PROJECT_DIR / "models" / "staging").glob("*/stg_*.sql"))}


@dataclass(frozen=True)
class Case:
    """One raw column dropped: each model reading the table builds, or stops naming it."""

    table: str
    column: str
    errors: frozenset[str]  # models for which it is a key column
    builds: frozenset[str]  # models for which it is optional

    @property
    def models(self) -> frozenset[str]:
        return self.errors | self.builds


@dataclass
class Round:
    cases: list[Case] = field(default_factory=list)

    def models(self) -> set[str]:
        return {m for case in self.cases for m in case.models}

    def failing(self) -> set[str]:
        return {m for case in self.cases for m in case.errors}


def all_cases(reads: dict[str, dict[str, list[str]]]) -> list[Case]:
    tables: dict[str, dict[str, list[str]]] = {}
    for model, sources in reads.items():
        for table, columns in sources.items():
            tables.setdefault(table, {})[model] = columns
    cases = []
    for table, by_model in sorted(tables.items()):
        for column in sorted({c for columns in by_model.values() for c in columns}):
            readers = {m for m, columns in by_model.items() if column in columns}
            errors = frozenset(m for m in readers if column in KEYS[(m, table)])
            cases.append(Case(table, column, errors, frozenset(readers - errors)))
    return cases


def schedule(cases: list[Case], downstream: dict[str, set[str]]) -> list[Round]:
    """Rounds of cases that can share a build: one case per model, and no case on a model
    downstream of one a key case stops (it would be skipped)."""
    rounds: list[Round] = []
    for case in sorted(cases, key=lambda c: (-len(c.errors), c.table, c.column)):
        blocked_by_case = {d for m in case.errors for d in downstream.get(m, ())}
        for candidate in rounds:
            blocked = {d for m in candidate.failing() for d in downstream.get(m, ())}
            if (case.models.isdisjoint(candidate.models())
                    and case.models.isdisjoint(blocked)
                    and blocked_by_case.isdisjoint(candidate.models())):
                candidate.cases.append(case)
                break
        else:
            rounds.append(Round([case]))
    return rounds


# -- the warehouse ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    """Every source loaded for real: the generated files and the three API stand-ins."""
    data = DataDir(tmp_path_factory.mktemp("optional-columns")).ensure()
    generator.generate(data.generated, users=USERS, seed=23)
    folder = data.generated
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")
        for source in ("posthog-files", "app-files"):
            run_source(data, source)
        with (IntercomAPI.from_generated(folder) as intercom,
              HubSpotAPI(load_generated(folder / "hubspot"), search_rate=None) as hubspot,
              PostHogQueryAPI.from_export(folder / "posthog" / "events") as posthog):
            run_source(data, "hubspot", base_url=hubspot.base_url,
                       access_token=hubspot.token, search_requests_per_second=50.0)
            run_source(data, "intercom", base_url=intercom.base_url,
                       access_token=intercom.token)
            run_source(data, "posthog-api", base_url=posthog.base_url,
                       project_id=posthog.project_id, personal_api_key=posthog.api_key)
    return data


def raw_columns(raw_db: Path) -> dict[str, set[str]]:
    names = {schema: source for source, schema in SCHEMAS.items()}
    with duckdb.connect(str(raw_db), read_only=True) as con:
        rows = con.execute("select table_schema, table_name, column_name "
                           "from information_schema.columns").fetchall()
    out: dict[str, set[str]] = {}
    for schema, table, column in rows:
        if schema in names:
            out.setdefault(f"{names[schema]}.{table}", set()).add(column)
    return out


def drop_columns(raw_db: Path, drops: list[tuple[str, str]]) -> None:
    """Rewrite each table without the column (`select * exclude`), as a loader that never
    created it would have left it."""
    with duckdb.connect(str(raw_db)) as con:
        for table, column in drops:
            source, name = table.split(".")
            qualified = f'"{SCHEMAS[source]}"."{name}"'
            con.execute(f'create or replace table {qualified} as '
                        f'select * exclude ("{column}") from {qualified}')


def release_duckdb() -> None:
    """dbt-duckdb keeps its DuckDB instance (raw.duckdb attached) open after an in-process
    run; close it, as the adapter itself does when the profile changes, so the next round
    can rewrite raw.duckdb."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    if manager._ENV is not None:
        manager._ENV.close()
        manager._ENV = None


@pytest.fixture()
def dbt_in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """dbt's own runner in this process (the arguments `run_dbt` gives it, without a new
    interpreter each time): dozens of short runs stay fast."""
    from dbt.cli.main import dbtRunner

    runner = dbtRunner()

    def invoke(data: DataDir, *args: str) -> dict[str, dict]:
        """Model name -> its run result."""
        monkeypatch.setenv(DATA_DIR_ENV, str(data.root))
        target = target_dir(data)
        (target / "run_results.json").unlink(missing_ok=True)
        runner.invoke([*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir",
                       str(PROJECT_DIR), "--target-path", str(target), "--log-path",
                       str(data.root / "dbt" / "logs"), "--quiet"])
        release_duckdb()
        if not (target / "run_results.json").exists():
            return {}
        results = json.loads((target / "run_results.json").read_text())["results"]
        return {node_key(r["unique_id"]): r for r in results}

    yield invoke
    release_duckdb()


def node_key(unique_id: str) -> str:
    """A model's name as dbt selects it (`dim_persons.v2` for a versioned mart), else the
    last part of the unique id."""
    if unique_id.startswith("model."):
        return unique_id.split(".", 2)[2]
    return unique_id.split(".")[-1]


# -- the tests ----------------------------------------------------------------------------


def test_key_columns_are_declared_in_each_model_as_written_here() -> None:
    declared = {(model, table): keys for model, sql in staging_models().items()
                for table, keys in model_keys(sql).items()}
    assert declared == KEYS


@pytest.mark.heavy
def test_each_optional_column_dropped_builds_and_each_key_column_names_itself(
        loaded: DataDir, dbt_in_process, tmp_path: Path) -> None:
    reads = {model: model_sources(sql) for model, sql in staging_models().items()}
    assert set(reads) == {model for model, _ in KEYS}
    assert {(m, t) for m, tables in reads.items() for t in tables} == set(KEYS)
    present = raw_columns(loaded.raw_db)
    for (model, table), keys in KEYS.items():
        assert keys <= present[table], (model, table, keys - present[table])

    # a column the loader has not created yet (HubSpot's `archived_at` with no archived
    # record) is absent in every round already: its cases are the rounds themselves
    cases = [c for c in all_cases(reads) if c.column in present[c.table]]
    work = DataDir(tmp_path / "cases").ensure()
    shutil.copyfile(loaded.raw_db, work.raw_db)
    invoke = dbt_in_process
    invoke(work, "parse")
    manifest = json.loads((target_dir(work) / "manifest.json").read_text())
    downstream = {node_key(uid): {node_key(c) for c in children}
                  for uid, children in manifest["child_map"].items()
                  if uid.startswith("model.")}
    rounds = schedule(cases, downstream)
    assert sum(len(r.cases) for r in rounds) == len(cases) > 140

    problems = []
    for number, case_round in enumerate(rounds):
        shutil.copyfile(loaded.raw_db, work.raw_db)
        drop_columns(work.raw_db, [(c.table, c.column) for c in case_round.cases])
        results = invoke(work, "run", "--select", *sorted(case_round.models()))
        for case in case_round.cases:
            for model in sorted(case.models):
                result = results.get(model, {"status": "not run", "message": ""})
                expected = "error" if model in case.errors else "success"
                message = result["message"] or ""
                named = (f"source table {case.table} " in message
                         and f"`{case.column}`" in message and model in message)
                if result["status"] != expected or (expected == "error" and not named):
                    problems.append(f"round {number}: {case.table} without {case.column}: "
                                    f"{model} {result['status']}, expected {expected}: "
                                    f"{message[:300]}")
    assert not problems, "\n".join(problems)


def test_every_optional_column_dropped_at_once_still_builds_every_mart(
        loaded: DataDir, tmp_path: Path) -> None:
    reads = {model: model_sources(sql) for model, sql in staging_models().items()}
    present = raw_columns(loaded.raw_db)
    optional = sorted({(c.table, c.column) for c in all_cases(reads)
                       if not c.errors and c.column in present[c.table]})
    data = DataDir(tmp_path / "all-optional-dropped").ensure()
    shutil.copyfile(loaded.raw_db, data.raw_db)
    drop_columns(data.raw_db, optional)
    result = run_dbt(data, "build", ["--exclude-resource-type", "unit_test"], quiet=True)
    results = json.loads((target_dir(data) / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"]: r["status"] for r in results}
    bad = {uid: status for uid, status in statuses.items()
           if status not in ("success", "pass", "warn")}
    assert not bad, bad
    assert result.ok
    models = {uid for uid in statuses if uid.startswith("model.")}
    assert {"model.journeys.dim_persons.v1", "model.journeys.dim_persons.v2",
            "model.journeys.fct_events.v1", "model.journeys.fct_sessions.v1"} <= models
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        # the dropped columns came out null, the rows are all there
        assert con.execute("select count(*), count(churned_at), count(email) "
                           "from staging.stg_app__users").fetchone() == (USERS, 0, 0)
