"""The customer's data quality, as the last dbt build found it.

Data tests that describe the customer's data are `severity: warn` (README, Data quality):
they never stop the build, and each one counts the rows it found (dbt prints "Got N
results"; accepted_values count rows through their `fail_calc`). This module reads those
counts from the build's run_results.json, with each test's model and column from the
manifest, so `journeys build` and `journeys demo` can say how many rows each rule found.
The rows themselves are in marts.fct_data_quality_issues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from journeys.dbt import target_dir
from journeys.paths import DataDir

ISSUES_MODEL = "marts.fct_data_quality_issues"


@dataclass(frozen=True)
class Finding:
    """One warn test that found rows."""

    test: str  # the test's name, as dbt prints it
    checks: str  # `model.column` for a generic test, the test's name for a singular one
    rule: str  # not_null, not_blank, accepted_values, relationships, or `singular`
    rows: int  # rows it found (results, for a singular test)


def findings(data_dir: DataDir) -> list[Finding]:
    """The warn tests of the last dbt run in `data_dir` that found rows, largest first."""
    target = target_dir(data_dir)
    return findings_in(target / "run_results.json", target / "manifest.json")


def findings_in(run_results: Path, manifest: Path) -> list[Finding]:
    if not run_results.exists() or not manifest.exists():
        return []
    nodes = json.loads(manifest.read_text())["nodes"]
    found = []
    for result in json.loads(run_results.read_text()).get("results", []):
        node = nodes.get(result["unique_id"])
        if result["status"] != "warn" or node is None or node["resource_type"] != "test":
            continue
        found.append(_finding(node, nodes, int(result.get("failures") or 0)))
    return sorted(found, key=lambda f: (-f.rows, f.checks, f.test))


def _finding(node: dict, nodes: dict, rows: int) -> Finding:
    metadata = node.get("test_metadata") or {}
    model = nodes.get(node.get("attached_node") or "", {}).get("name")
    if not metadata or model is None:
        return Finding(node["name"], node["name"], "singular", rows)
    column = node.get("column_name") or metadata.get("kwargs", {}).get("column_name")
    checks = f"{model}.{column}" if column else model
    return Finding(node["name"], checks, metadata["name"], rows)


def print_findings(console: Console, found: list[Finding]) -> None:
    """A table of the rules that found rows, and where to read them; one line if none."""
    if not found:
        console.print("data quality: no warn test found a row in the customer's data")
        return
    table = Table(title="data quality: the customer's data (warnings; the build went on)",
                  title_justify="left")
    table.add_column("checks")
    table.add_column("rule")
    table.add_column("rows", justify="right")
    for finding in found:
        table.add_row(finding.checks, finding.rule, f"{finding.rows:,}")
    console.print(table)
    generic = [f for f in found if f.rule != "singular"]
    if generic:
        console.print(f"{len(generic)} rules found {sum(f.rows for f in generic):,} rows (a row "
                      f"two rules find counts twice): [bold]{ISSUES_MODEL}[/] lists them")
    if len(generic) < len(found):
        console.print("tracking-plan findings: see marts.fct_tracking_plan_coverage "
                      "(`journeys lint-plan`)")
