"""Runs the dlt pipelines into `<data-dir>/raw.duckdb` and reports what each one did."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.pipeline.exceptions import PipelineStepFailed

from journeys.paths import DataDir
from pipelines.app_files import app_files
from pipelines.posthog_files import posthog_files
from pipelines.quarantine import REJECTED_TABLE


class IngestError(RuntimeError):
    """A source could not be loaded; the message names it and says what to do."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    dataset: str
    build: Callable[[str], Any]
    default_path: Callable[[DataDir], Path]
    describe: str


SOURCES: dict[str, SourceSpec] = {
    "posthog-files": SourceSpec(
        "posthog-files",
        "raw_posthog",
        lambda path: posthog_files(bucket_url=path),
        lambda d: d.generated / "posthog" / "events",
        "PostHog batch-export files (JSONL, JSONL.gz, Parquet)",
    ),
    "app-files": SourceSpec(
        "app-files",
        "raw_app",
        lambda path: app_files(bucket_url=path),
        lambda d: d.generated / "app",
        "CSV dumps of the app's users and events tables",
    ),
}


@dataclass
class SourceResult:
    source: str
    dataset: str
    location: str
    rows_extracted: dict[str, int] = field(default_factory=dict)
    rows_rejected: int = 0
    table_rows: dict[str, int] = field(default_factory=dict)
    files_tracked: int = 0
    seconds: float = 0.0


def _quiet_dlt() -> None:
    # dlt warns on every arrow batch whose string column carries a json hint; that is
    # the intended way to load JSON text, so keep its log to errors unless asked.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")


def _pipeline(data_dir: DataDir, spec: SourceSpec) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"journeys_{spec.name.replace('-', '_')}",
        destination=dlt.destinations.duckdb(str(data_dir.raw_db)),
        dataset_name=spec.dataset,
        pipelines_dir=str(data_dir.pipelines),
    )


def _table_rows(raw_db: Path, dataset: str) -> dict[str, int]:
    with duckdb.connect(str(raw_db), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ? "
                "and table_name not like '\\_dlt%' escape '\\' order by 1",
                [dataset],
            ).fetchall()
        ]
        return {
            t: con.execute(f'select count(*) from "{dataset}"."{t}"').fetchone()[0] for t in tables
        }


def run_source(data_dir: DataDir, name: str, path: str | None = None) -> SourceResult:
    """Load one source. Finishes a load package a killed run left behind first."""
    if name not in SOURCES:
        raise IngestError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}")
    _quiet_dlt()
    spec = SOURCES[name]
    location = path or str(spec.default_path(data_dir))
    if "://" not in location and not Path(location).exists():
        raise IngestError(
            f"{name}: {location} does not exist. Pass --path to a folder of "
            f"{spec.describe}, or run `journeys generate` first."
        )
    data_dir.ensure()
    started = time.perf_counter()
    pipeline = _pipeline(data_dir, spec)
    try:
        if pipeline.has_pending_data:  # a run was killed during load: finish it first
            pipeline.load()
        pipeline.run(spec.build(location))
    except PipelineStepFailed as error:
        raise IngestError(
            f"{name}: the {error.step} step failed for {location}: {error.exception}"
        ) from error
    normalize = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    counts = dict(normalize.row_counts) if normalize else {}
    counts.pop("_dlt_pipeline_state", None)
    result = SourceResult(name, spec.dataset, location)
    result.rows_rejected = counts.pop(REJECTED_TABLE, 0)
    result.rows_extracted = counts
    if data_dir.raw_db.exists():
        result.table_rows = _table_rows(data_dir.raw_db, spec.dataset)
    state = pipeline.state.get("sources", {})
    result.files_tracked = sum(
        len(resource.get("files", {}))
        for source in state.values()
        for resource in source.get("resources", {}).values()
    )
    result.seconds = time.perf_counter() - started
    return result


def available_sources(data_dir: DataDir) -> list[str]:
    """Sources whose default location exists (what `journeys ingest` with no source loads)."""
    return [name for name, spec in SOURCES.items() if spec.default_path(data_dir).exists()]
