"""Shared fixtures: small generated data sets and a built warehouse, made once per run.

The warehouses build without dbt's unit tests (`FIXTURE_BUILD`): they are the same on
any data (their inputs are written in the YAML), so they run once, in the empty build of
test_warehouse.py, and on Postgres and Spark in test_engines.py; here they would only
repeat in every worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from journeys import generator
from journeys.dbt import run_dbt
from journeys.ingest import run_source
from journeys.paths import DataDir
from journeys.postgres import embedded_server
from tests.reference import Generated

GEN_USERS = 1_200
GEN_SEED = 7
# every model and data test; dbt's unit tests run in the empty builds (module docstring)
FIXTURE_BUILD = ["--exclude-resource-type", "unit_test"]


@pytest.fixture(autouse=True)
def _isolated_dlt(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """dlt keeps global state under DLT_DATA_DIR; never let tests share or touch /var/dlt."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path_factory.getbasetemp() / "dlt-global"))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real PostgreSQL server (pgserver) for the run; tests keep to their own schemas
    or databases. Its `postgresql://` URI."""
    server = embedded_server(tmp_path_factory.mktemp("pg") / "data")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """1,200 users in three chunks of 500 (so chunk seams are exercised)."""
    out = tmp_path_factory.mktemp("generated")
    truth = generator.generate(out, users=GEN_USERS, seed=GEN_SEED, chunk_users=500)
    return out, truth


@pytest.fixture(scope="session")
def reference(generated: tuple[Path, dict]) -> Generated:
    return Generated(generated[0])


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, Generated]:
    """A data dir with 600 generated users, ingested and built with dbt."""
    data = DataDir(tmp_path_factory.mktemp("warehouse")).ensure()
    generator.generate(data.generated, users=600, seed=11)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
        for source in ("posthog-files", "app-files"):
            run_source(data, source)
    result = run_dbt(data, "build", FIXTURE_BUILD, quiet=True)
    assert result.ok, f"dbt build failed: {result.statuses}"
    return data, Generated(data.generated)


@pytest.fixture(scope="session")
def full_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, Generated]:
    """Every source: 400 generated users' PostHog exports and app tables, and their HubSpot
    and Intercom records served by the local stand-ins, ingested and built."""
    from journeys.stand_ins.hubspot import HubSpotAPI, load_generated
    from journeys.stand_ins.intercom import IntercomAPI

    data = DataDir(tmp_path_factory.mktemp("full-warehouse")).ensure()
    generator.generate(data.generated, users=400, seed=5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
        for source in ("posthog-files", "app-files"):
            run_source(data, source)
        with (
            HubSpotAPI(load_generated(data.generated / "hubspot"), search_rate=None) as hubspot,
            IntercomAPI.from_generated(data.generated) as intercom,
        ):
            run_source(data, "hubspot", base_url=hubspot.base_url, access_token=hubspot.token,
                       search_requests_per_second=50.0)
            run_source(data, "intercom", base_url=intercom.base_url,
                       access_token=intercom.token)
    result = run_dbt(data, "build", FIXTURE_BUILD, quiet=True)
    assert result.ok, f"dbt build failed: {result.statuses}"
    return data, Generated(data.generated)
