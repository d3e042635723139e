"""The identity graph agrees exactly with a plain-Python reading of SEMANTICS.md.

Hundreds of random small identity graphs (tests/identity_graphs.py) are loaded into one
raw DuckDB file in the shapes dlt lands, built once with dbt, and every node's person
and resolution and every PostHog and app event's person must equal what
tests/identity_reference.py derives from the same rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from journeys.dbt import run_dbt
from journeys.paths import DataDir
from tests.identity_graphs import load_raw, random_sources
from tests.identity_reference import Resolved, Sources, resolve

SEED = 20261206
GRAPHS = 400
MAX_CHAIN = 12


def build_identity(data: DataDir) -> None:
    """dbt build of the unified event stream and everything it needs, with their data
    tests (the unit tests run in every full build), nothing downstream."""
    result = run_dbt(data, "build", ["--select", "+int_events__unified", "--indirect-selection",
                                     "cautious", "--exclude", "test_type:unit"], quiet=True)
    assert result.ok, f"dbt build failed: {result.statuses}"


def built_persons(warehouse: Path) -> tuple[dict, dict]:
    """(node -> (person_id, resolution), event -> person_id) as the warehouse has them."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        nodes = {key: (person, resolution) for key, person, resolution in con.execute(
            "select node_key, person_id, resolution "
            "from intermediate.int_identity__nodes_resolved").fetchall()}
        events = dict(con.execute(
            "select event_id, person_id from intermediate.int_events__unified").fetchall())
    return nodes, events


def differences(expected: dict, actual: dict) -> list[tuple]:
    keys = sorted(set(expected) | set(actual))
    return [(k, expected.get(k), actual.get(k)) for k in keys if expected.get(k) != actual.get(k)]


@pytest.fixture(scope="module")
def random_graphs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Sources, Resolved, Path]:
    data = DataDir(tmp_path_factory.mktemp("identity-agreement")).ensure()
    sources = random_sources(SEED, GRAPHS, MAX_CHAIN)
    load_raw(data.raw_db, sources)
    build_identity(data)
    return sources, resolve(sources), data.warehouse_db


def test_the_random_graphs_hold_the_cases_that_matter(random_graphs) -> None:
    """The generator really makes what the agreement is about (else it proves little)."""
    _, expected, _ = random_graphs
    resolutions = list(expected.resolutions.values())
    assert resolutions.count("contested") >= 30
    assert resolutions.count("unanchored") >= 100
    assert resolutions.count("nearest_app_user") >= 300
    costs = [c for c in expected.anchor_costs.values() if c is not None]
    links = [c // 1_000_000 + c % 1_000_000 for c in costs]
    assert max(links) > 8  # best paths longer than the 8 passes the models once unrolled
    assert any(c >= 1_000_000 for c in costs)  # nodes reached only through person ids


def test_every_node_has_the_reference_person(random_graphs) -> None:
    _, expected, warehouse = random_graphs
    nodes, _ = built_persons(warehouse)
    want = {k: (expected.persons[k], expected.resolutions[k]) for k in expected.persons}
    diff = differences(want, nodes)
    assert diff == [], f"{len(diff)} of {len(want)} nodes differ, first: {diff[:5]}"


def test_every_event_has_the_reference_person(random_graphs) -> None:
    _, expected, warehouse = random_graphs
    _, events = built_persons(warehouse)
    diff = differences(expected.event_persons, events)
    assert diff == [], f"{len(diff)} of {len(events)} events differ, first: {diff[:5]}"
