"""Runs the dlt pipelines into `<data-dir>/raw.duckdb` and reports what each one did.

Two kinds of source:
- **file sources** read a folder (or fsspec URL); `journeys ingest` with no arguments
  loads the ones whose default folder under `DATA_DIR/generated` exists;
- **service sources** (Postgres, HTTP APIs) read their settings from dlt's config
  providers (env vars, `.dlt/config.toml`, `.dlt/secrets.toml`); they are loaded when
  their secret is configured.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dlt
import duckdb
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.runtime.collector import NULL_COLLECTOR, Collector
from dlt.pipeline.exceptions import PipelineStepFailed

from journeys.locks import busy_from, data_dir_lock, probe_duckdb
from journeys.paths import DataDir
from pipelines.quarantine import REJECTED_TABLE


class IngestError(RuntimeError):
    """A source could not be loaded; the message names it and says what to do."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    dataset: str
    factory: str  # "module:function" of the dlt source
    describe: str
    default_path: Callable[[DataDir], Path] | None = None  # file sources
    path_argument: str | None = None  # the source argument the path goes to
    secret: str | None = None  # service sources: configured when this secret is set

    @property
    def is_files(self) -> bool:
        return self.default_path is not None

    def configured(self) -> bool:
        return self.secret is not None and dlt.secrets.get(self.secret) not in (None, "")

    def build(self, path: str | None, **overrides: Any) -> Any:
        module, function = self.factory.split(":")
        source_function = getattr(importlib.import_module(module), function)
        if self.path_argument and path:
            overrides[self.path_argument] = path
        return source_function(**overrides)


SOURCES: dict[str, SourceSpec] = {spec.name: spec for spec in (
    SourceSpec("posthog-files", "raw_posthog", "pipelines.posthog_files:posthog_files",
               "PostHog batch-export files (JSON lines, also .gz, or Parquet)",
               default_path=lambda d: d.generated / "posthog" / "events",
               path_argument="bucket_url"),
    SourceSpec("app-files", "raw_app", "pipelines.app_files:app_files",
               "dumps (CSV, JSON lines, Parquet) of the app's users and events tables",
               default_path=lambda d: d.generated / "app", path_argument="bucket_url"),
    SourceSpec("app-postgres", "raw_app", "pipelines.app_postgres:app_postgres",
               "the app's Postgres (users, events)",
               secret="sources.app_postgres.credentials"),
    SourceSpec("posthog-api", "raw_posthog", "pipelines.posthog_api:posthog_api",
               "PostHog's query API (events, persons, distinct ids)",
               secret="sources.posthog_api.personal_api_key"),
    SourceSpec("hubspot", "raw_hubspot", "pipelines.hubspot:hubspot",
               "HubSpot's CRM API (contacts, companies, deals, associations, deal stages)",
               secret="sources.hubspot.access_token"),
    SourceSpec("intercom", "raw_intercom", "pipelines.intercom:intercom",
               "Intercom's REST API (contacts, conversations)",
               secret="sources.intercom.access_token"),
)}


@dataclass
class SourceResult:
    source: str
    dataset: str
    location: str
    rows_extracted: dict[str, int] = field(default_factory=dict)
    rows_rejected: int = 0
    table_rows: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)  # resource -> incremental position
    seconds: float = 0.0
    skipped_files: list[str] = field(default_factory=list)  # file sources: files not read
    # files this run could not read at all (location -> why), each set aside as one reject
    # and read again next run; its other files loaded
    unreadable_files: dict[str, str] = field(default_factory=dict)


def _quiet_dlt() -> None:
    """dlt's defaults for this app, unless the user set them. Applied on import: dlt fixes
    its log level at the first config lookup."""
    # dlt warns on every arrow batch whose string column carries a json hint (the
    # intended way to load JSON text) and on all-null columns; keep its log to errors
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    # no usage telemetry leaves a warehouse unless its owner turns it on
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


_quiet_dlt()


def pipeline_for(data_dir: DataDir, spec: SourceSpec,
                 progress: Collector | None = None) -> dlt.Pipeline:
    """The source's pipeline; `progress` (a dlt collector) hears what each step does."""
    return dlt.pipeline(
        pipeline_name=f"journeys_{spec.name.replace('-', '_')}",
        destination=dlt.destinations.duckdb(str(data_dir.raw_db)),
        dataset_name=spec.dataset,
        pipelines_dir=str(data_dir.pipelines),
        progress=progress or NULL_COLLECTOR,
    )


def _table_rows(raw_db: Path, dataset: str) -> dict[str, int]:
    with duckdb.connect(str(raw_db), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "and table_name not like '\\_dlt%' escape '\\' order by 1", [dataset]).fetchall()]
        return {t: con.execute(f'select count(*) from "{dataset}"."{t}"').fetchone()[0]
                for t in tables}


def _show(value: Any, cursor: str = "") -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, int) and cursor.endswith("_at") and 10**9 <= value < 10**10:
        moment = dt.datetime.fromtimestamp(value, dt.UTC).isoformat(sep=" ")
        return f"{value} ({moment[:19]})"  # unix seconds, as Intercom sends them
    return str(value)


def cursors(pipeline: dlt.Pipeline) -> dict[str, str]:
    """Each resource's incremental position: its cursor's last value, or for file
    sources how many files it has loaded."""
    out: dict[str, str] = {}
    for source in pipeline.state.get("sources", {}).values():
        for name, resource in source.get("resources", {}).items():
            for cursor, state in resource.get("incremental", {}).items():
                if state.get("last_value") is not None:
                    field = cursor.rsplit(".", 1)[-1]  # `properties.lastmodifieddate`
                    out[name] = f"{field} = {_show(state['last_value'], field)}"
            if "files" in resource:
                out[name] = f"{len(resource['files'])} files loaded"
            for key, value in resource.items():
                if key == "cursor" and isinstance(value, dict) and name not in out:
                    out[name] = ", ".join(f"{k} = {_show(v, k)}" for k, v in value.items())
    return out


def _resource_states(pipeline: dlt.Pipeline) -> list[dict]:
    return [resource for source in pipeline.state.get("sources", {}).values()
            for resource in source.get("resources", {}).values()]


def skipped_files(pipeline: dlt.Pipeline) -> list[str]:
    """Files a file source listed but does not read (not a file type it knows), as its
    resources last named them in their state (`skipped`)."""
    return sorted(path for resource in _resource_states(pipeline)
                  for path in resource.get("skipped", []))


def unreadable_files(pipeline: dlt.Pipeline) -> dict[str, str]:
    """The files a file source's last run could not read (location -> why), as its
    resources keep them in their state (`unreadable_files`, reset each run)."""
    out: dict[str, str] = {}
    for resource in _resource_states(pipeline):
        out.update(resource.get("unreadable_files", {}))
    return out


SECRET_WORDS = ("credentials", "token", "key", "password", "secret")


def _secret_values(spec: SourceSpec, overrides: dict[str, Any]) -> list[str]:
    """Secret strings that must never reach a message: the configured secret, secrets
    passed in, and the password inside a connection URL."""
    values = [str(v) for k, v in overrides.items()
              if isinstance(v, str) and any(w in k for w in SECRET_WORDS)]
    if spec.secret:
        configured = dlt.secrets.get(spec.secret)
        if configured:
            values.append(str(configured))
    passwords = [urlsplit(v).password for v in values if "://" in v]
    return [v for v in values + passwords if v and len(v) >= 4]


def _scrub(message: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def run_source(data_dir: DataDir, name: str, path: str | None = None,
               progress: Collector | None = None, **overrides: Any) -> SourceResult:
    """Load one source. Finishes a load package a killed run left behind first.
    `progress`, a dlt collector (`journeys.progress.IngestProgress`), is told the rows
    each step handles as it goes. Raises `journeys.locks.Busy` at once, before any
    extract, while another `journeys` command writes `data_dir` or another process has
    its raw.duckdb open."""
    if name not in SOURCES:
        raise IngestError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}")
    _quiet_dlt()
    spec = SOURCES[name]
    if spec.is_files:
        location = path or str(spec.default_path(data_dir))
        if "://" not in location and not Path(location).exists():
            raise IngestError(
                f"{name}: {location} does not exist. Pass --path to a folder of "
                f"{spec.describe}, or run `journeys generate` first.")
    else:
        if path:
            raise IngestError(f"{name} reads {spec.describe} from its configuration, not "
                              "--path; see the README's Sources section.")
        if not overrides and not spec.configured():
            env = spec.secret.upper().replace(".", "__")
            raise IngestError(f"{name} is not configured: set {env} (or the same key in "
                              ".dlt/secrets.toml); see the README's Sources section.")
        location = spec.describe
    data_dir.ensure()
    # one writer per data dir: a second ingest (or a build) is refused here, before any
    # extract; so is a run while another process (a DuckDB CLI, a notebook) has raw open
    with data_dir_lock(data_dir, "ingest") as command:
        probe_duckdb(data_dir.raw_db, command, write=True)
        return _load(data_dir, spec, location, progress, command, overrides)


def _load(data_dir: DataDir, spec: SourceSpec, location: str, progress: Collector | None,
          command: str, overrides: dict[str, Any]) -> SourceResult:
    """run_source's load, under the data dir's lock."""
    name = spec.name
    started = time.perf_counter()
    pipeline = pipeline_for(data_dir, spec, progress)
    secrets = _secret_values(spec, overrides)
    try:
        if pipeline.has_pending_data:  # a run was killed during load: finish it first
            pipeline.load()
        source = spec.build(location if spec.is_files else None, **overrides)
        pipeline.run(source)
    except ConfigFieldMissingException as error:
        missing = ", ".join(error.fields)
        raise IngestError(f"{name}: missing configuration ({missing}); see the README's "
                          "Sources section for the env vars or .dlt/*.toml keys.") from error
    except PipelineStepFailed as error:
        # raw.duckdb opened by another process since the probe: say so, not dlt's advice
        # about credentials and the internet
        if busy := busy_from(error, command):
            raise busy from error
        message = f"{name}: the {error.step} step failed ({location}): {error.exception}"
        raise IngestError(_scrub(message, secrets)) from error
    except Exception as error:  # connecting or reflecting while the source is built
        if busy := busy_from(error, command):
            raise busy from error
        message = f"{name}: could not start ({location}): {type(error).__name__}: {error}"
        raise IngestError(_scrub(message, secrets)) from error
    normalize = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    counts = dict(normalize.row_counts) if normalize else {}
    counts.pop("_dlt_pipeline_state", None)
    result = SourceResult(name, spec.dataset, location)
    result.rows_rejected = counts.pop(REJECTED_TABLE, 0)
    result.rows_extracted = counts
    if data_dir.raw_db.exists():
        result.table_rows = _table_rows(data_dir.raw_db, spec.dataset)
    result.cursors = cursors(pipeline)
    result.skipped_files = skipped_files(pipeline)
    # files it could not read: new ones are rejects of this run, unchanged ones named again
    result.unreadable_files = unreadable_files(pipeline)
    result.seconds = time.perf_counter() - started
    return result


def default_sources(data_dir: DataDir) -> list[str]:
    """What `journeys ingest` loads with no --source: file sources whose folder exists
    under DATA_DIR/generated and service sources that are configured. When the app's
    Postgres is configured, the app's dumps are not loaded as well."""
    names = [n for n, s in SOURCES.items() if not s.is_files and s.configured()]
    for name, spec in SOURCES.items():
        if spec.is_files and spec.default_path(data_dir).exists():
            if name == "app-files" and "app-postgres" in names:
                continue
            names.append(name)
    return names
