"""The demo's source systems (`DemoSources`) and its end-of-demo summary: what was built,
whether the tests passed, where to look next."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from journeys import quality
from journeys.dbt import DbtResult
from journeys.paths import DataDir

LAYERS = ("staging", "intermediate", "marts")
# what the demo ingests, in order: the PostHog export files, then the services below
SOURCES = ("posthog-files", "app-postgres", "hubspot", "intercom")


class DemoSources:
    """The generated data served as the real systems serve it, for the real pipelines: an
    embedded Postgres (pgserver) holding the app's tables, and local stand-ins of HubSpot's
    and Intercom's APIs serving the generated pages. No credentials, nothing leaves the
    machine. `overrides` are `journeys.ingest.run_source`'s settings for each service.

        with DemoSources.start(data.generated, data.root / "postgres") as sources:
            for name in SOURCES:
                run_source(data, name, **sources.overrides.get(name, {}))
    """

    def __init__(self, generated: Path, postgres_dir: Path) -> None:
        from journeys.postgres import embedded_server
        from journeys.stand_ins.hubspot import HubSpotAPI, load_generated
        from journeys.stand_ins.intercom import IntercomAPI

        self.server = embedded_server(postgres_dir)
        try:
            self.hubspot = HubSpotAPI(load_generated(generated / "hubspot"), search_rate=None)
            self.intercom = IntercomAPI.from_generated(generated)
        except BaseException:
            self.server.cleanup()
            raise

    @classmethod
    def start(cls, generated: Path, postgres_dir: Path) -> DemoSources:
        """Start the servers and load the generated app tables into Postgres."""
        from journeys.postgres import load_app_tables

        sources = cls(generated, postgres_dir)
        try:
            load_app_tables(sources.server.get_uri(), generated / "app")
            sources.hubspot.start()
            sources.intercom.start()
        except BaseException:
            sources.server.cleanup()
            raise
        return sources

    @property
    def overrides(self) -> dict[str, dict[str, Any]]:
        return {
            "app-postgres": {"credentials": self.server.get_uri()},
            "hubspot": {"base_url": self.hubspot.base_url, "access_token": self.hubspot.token},
            "intercom": {"base_url": self.intercom.base_url,
                         "access_token": self.intercom.token},
        }

    def stop(self) -> None:
        try:
            self.hubspot.stop()
            self.intercom.stop()
        finally:
            self.server.cleanup()

    def __enter__(self) -> DemoSources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
EXAMPLE_SQL = """\
-- trial outcome by first-touch source (persons who signed up)
select first_touch_source, trial_outcome, count(*) as persons
from marts.dim_persons
where signed_up_at is not null
group by all
order by first_touch_source, persons desc;"""


@dataclass
class Summary:
    warehouse: str
    layers: dict[str, dict[str, int]]  # layer -> model -> rows
    tests_passed: int
    tests_warned: int
    tests_failed: int
    models_built: int
    persons: dict[str, int]  # how each person was resolved -> persons
    data_quality: list[quality.Finding]  # warn tests that found rows, with their counts


def summarize(data_dir: DataDir, result: DbtResult) -> Summary:
    layers: dict[str, dict[str, int]] = {}
    with duckdb.connect(str(data_dir.warehouse_db), read_only=True) as con:
        for layer in LAYERS:
            names = [
                r[0]
                for r in con.execute(
                    "select table_name from information_schema.tables "
                    "where table_schema = ? and table_type = 'BASE TABLE' order by 1",
                    [layer],
                ).fetchall()
            ]
            layers[layer] = {
                n: con.execute(f'select count(*) from {layer}."{n}"').fetchone()[0] for n in names
            }
        persons = dict(con.execute(
            "select case when app_user_id is null then 'without an app user' "
            "else 'app users' end, count(*) from marts.dim_persons group by 1").fetchall())
    return Summary(
        warehouse=str(data_dir.warehouse_db),
        layers=layers,
        tests_passed=result.count("test", "pass") + result.count("unit_test", "pass"),
        tests_warned=result.count("test", "warn"),
        tests_failed=result.count("test", "fail")
        + result.count("test", "error")
        + result.count("unit_test", "fail"),
        models_built=result.count("model", "success"),
        persons=persons,
        data_quality=quality.findings(data_dir),
    )


def print_summary(console: Console, summary: Summary) -> None:
    table = Table(title="warehouse", title_justify="left")
    table.add_column("layer")
    table.add_column("models", justify="right")
    table.add_column("rows", justify="right")
    for layer, models in summary.layers.items():
        table.add_row(layer, str(len(models)), f"{sum(models.values()):,}")
    console.print(table)
    console.print(
        f"dbt: {summary.models_built} models built, {summary.tests_passed} tests "
        f"passed, {summary.tests_warned} warned, {summary.tests_failed} failed"
    )
    quality.print_findings(console, summary.data_quality)
    total = sum(summary.persons.values())
    parts = ", ".join(f"{n:,} {kind}" for kind, n in sorted(summary.persons.items()))
    console.print(f"persons: {total:,} ({parts}), one per human across PostHog, the app, "
                  "HubSpot and Intercom")
    console.print(f"warehouse: [bold]{summary.warehouse}[/]")
    console.print("try it:  [bold]duckdb " + summary.warehouse + "[/]  then paste")
    console.print(EXAMPLE_SQL, highlight=False, markup=False)
