"""`journeys bench`: how fast and how big the warehouse goes, size by size, on this machine.

For each size (events, about EVENTS_PER_USER per generated user) it generates the demo
data once, then `runs` times, each time from empty:

1. ingests every source the demo ingests (`journeys.demo.SOURCES`: the PostHog export
   files, the app's Postgres, HubSpot and Intercom through the demo's local servers) into
   a new raw DuckDB, each source timed on its own;
2. the floor: DuckDB's own `read_json` of the same PostHog export files into a table, with
   the same types and the same dedup on `uuid` (latest `_inserted_at`) as
   `raw_posthog.events`, whose row count it must equal;
3. a full `dbt build` into a new warehouse (every model's time from run_results.json);
4. the activation funnel: the funnel models alone (`models/intermediate/funnels`,
   `fct_funnel_persons`, `fct_funnel_steps`) with `--vars` holding only that funnel,
   against ClickHouse's `windowFunnel` through chdb on the same events
   (`journeys.bench.window_funnel`); their per-step counts must be equal.

Every step runs in a child process of its own (`journeys.bench.measure`) for its time and
peak resident memory. Each size's medians, every run's figures, the machine and the
versions go into the results JSON (`runs`, one object per size; the one it replaces moves
to `history`), and the Markdown report is rendered from it (`journeys.bench.report`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import importlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psutil
import yaml
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from journeys.bench import report
from journeys.bench.measure import Measured, StepFailed, run_measured
from journeys.paths import PROJECT_DIR, DataDir

EVENTS_PER_USER = 200  # about 208 in the demo data: 5,000 users give 1,038,924 events
DEFAULT_SIZES = (1_000_000, 10_000_000)
FUNNEL = "activation"
SEED = 42
RESULTS = PROJECT_DIR / "docs" / "benchmarks.json"
REPORT = PROJECT_DIR / "docs" / "benchmarks.md"
WINDOW_FUNNEL_MODULE = "journeys.bench.window_funnel"
# the models timed for the activation funnel (`dbt run --select`): the funnel engine and
# the marts fct_funnel_steps needs; not the trends or time-to-convert marts
FUNNEL_SELECT = ["path:models/intermediate/funnels", "fct_funnel_persons", "fct_funnel_steps"]
# disk for one size, in bytes per event, from 1M events of demo data (rounded up): the
# generated files with the exports as JSON lines (740) or gzipped (75: gzip -6 makes
# them 12 times smaller), and one run's databases at their largest (raw 410, then the
# floor's 200 or the warehouse's 935; DuckDB may spill beside them)
EXPORT_BYTES_PER_EVENT = 800
GZIP_BYTES_PER_EVENT = 100
DATABASE_BYTES_PER_EVENT = 1_500
HERE = "journeys.bench.harness"


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message names the step and what to do."""


@dataclass
class Options:
    sizes: list[int] = field(default_factory=lambda: list(DEFAULT_SIZES))
    runs: int = 3
    work: Path | None = None  # None: a temporary folder under the data dir, removed after
    keep: bool = False  # keep each size's generated files and last run's databases
    gzip: bool = False  # gzip the PostHog export files after generating them
    chdb: bool = True  # compare the activation funnel with chdb's windowFunnel
    # extra `dbt build` arguments; none for the benchmark (the tests leave out dbt's unit
    # tests, as their warehouses do); recorded with the figures
    build_args: list[str] = field(default_factory=list)
    results: Path = RESULTS
    report: Path = REPORT


# -- sizes --------------------------------------------------------------------------------


def parse_events(text: str) -> list[int]:
    """Event counts from `1M`, `10M,50M`, `2.5k` or `3000` (`_` may group digits)."""
    counts = []
    for part in re.split(r"[,\s]+", text.strip()):
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", part.replace("_", ""))
        if not match:
            raise ValueError(f"{part!r} is not an event count: write 1M, 10M, 2.5k or 3000")
        scale = {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()]
        count = round(float(match[1]) * scale)
        if count < 1:
            raise ValueError(f"{part!r}: give at least one event")
        counts.append(count)
    return counts


def label(events: int) -> str:
    """1M, 10M, 2.5k, 300: how a size is named in folders, output and the report."""
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if events >= scale:
            return f"{events / scale:g}{suffix}"
    return str(events)


def users_for(events: int) -> int:
    return max(1, round(events / EVENTS_PER_USER))


def activation_funnel() -> dict:
    """The activation funnel as dbt_project.yml's `funnels` var defines it."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    for funnel in project["vars"]["funnels"]:
        if funnel["name"] == FUNNEL:
            return funnel
    raise BenchError(f"dbt_project.yml's `funnels` var has no {FUNNEL!r} funnel to time")


# -- the machine --------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_bytes": psutil.virtual_memory().total,
            "cpu": cpu, "platform": platform.platform()}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"python": platform.python_version(), "journeys": _version("journeys"),
            "commit": commit, "duckdb": _version("duckdb"), "dbt-core": _version("dbt-core"),
            "dbt-duckdb": _version("dbt-duckdb"), "dlt": _version("dlt"),
            "chdb": _version("chdb")}


def disk_needed(events: int, gzipped: bool) -> int:
    """Bytes one size needs at its fullest: while generating (the files as written), or
    later (the files as kept, and one run's databases)."""
    written = events * EXPORT_BYTES_PER_EVENT
    kept = events * (GZIP_BYTES_PER_EVENT if gzipped else EXPORT_BYTES_PER_EVENT)
    return max(written, kept + events * DATABASE_BYTES_PER_EVENT)


def check_disk(work: Path, events: int, gzipped: bool) -> None:
    """Refuse a size the disk under `work` cannot hold, before writing anything."""
    free = shutil.disk_usage(work).free
    needed = disk_needed(events, gzipped)
    if free >= needed:
        return
    gib = 2**30
    advice = ("free some disk or give --data-dir a folder on a bigger disk"
              if gzipped else
              f"free some disk, give --data-dir a folder on a bigger disk, or add --gzip "
              f"(the export files gzipped after generation: about "
              f"{disk_needed(events, True) / gib:,.0f} GiB at the fullest)")
    raise BenchError(
        f"{label(events)} events need about {needed / gib:,.0f} GiB of disk in {work} "
        f"(export files {events * EXPORT_BYTES_PER_EVENT / gib:,.0f} GiB as generated, "
        f"one run's databases {events * DATABASE_BYTES_PER_EVENT / gib:,.0f} GiB) and "
        f"{free / gib:,.0f} GiB are free: {advice}. Nothing was generated for this size.")


# -- the steps (each runs in a child process: journeys.bench.measure) --------------------


def step_generate(out: str, users: int, seed: int) -> dict:
    from journeys import generator

    truth = generator.generate(Path(out), users=users, seed=seed)
    return {"users": truth["users"], "rows": truth["rows"]}


def step_gzip(folder: str) -> dict:
    """Gzip every export file in place (`x.jsonl` -> `x.jsonl.gz`), one at a time."""
    written = 0
    for path in sorted(Path(folder).glob("*.jsonl")):
        target = path.with_name(path.name + ".gz")
        with path.open("rb") as source, gzip.open(target, "wb", compresslevel=6) as sink:
            shutil.copyfileobj(source, sink, 8 << 20)
        path.unlink()
        written += target.stat().st_size
    return {"bytes": written}


def step_ingest(root: str, source: str, path: str | None, overrides: dict) -> dict:
    from journeys.ingest import run_source

    result = run_source(DataDir(Path(root)), source, path, **overrides)
    if result.unreadable_files:
        raise BenchError(f"{source}: could not read {sorted(result.unreadable_files)}")
    return {"table_rows": result.table_rows, "rows_rejected": result.rows_rejected}


def floor_sql(files: Path) -> str:
    """DuckDB reading the export files straight into a table: the contract's columns with
    their types (JSON for the property maps), one row per `uuid`, the latest
    `_inserted_at` kept (what raw_posthog.events holds after dlt's merge)."""
    glob = str(files / "*.jsonl*").replace("'", "''")
    columns = ", ".join(f"{name}: '{kind}'" for name, kind in (
        ("uuid", "varchar"), ("timestamp", "timestamptz"), ("_inserted_at", "timestamptz"),
        ("created_at", "timestamptz"), ("event", "varchar"), ("properties", "json"),
        ("distinct_id", "varchar"), ("elements_chain", "varchar"),
        ("person_properties", "json"), ("person_id", "varchar")))
    return f"""
        create table events as
        select * exclude (filename), filename as _source_file
        from read_json('{glob}', format = 'newline_delimited', columns = {{{columns}}},
                       filename = true)
        qualify row_number() over (partition by uuid order by _inserted_at desc) = 1
    """


def step_floor(files: str, database: str) -> dict:
    with duckdb.connect(database) as con:
        con.execute("set enable_progress_bar = false")
        con.execute(floor_sql(Path(files)))
        return {"rows": con.execute("select count(*) from events").fetchone()[0]}


def _model_seconds(target: Path) -> dict[str, float]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".", 2)[2]: round(r["execution_time"], 3) for r in results
            if r["unique_id"].startswith("model.")}


def step_build(root: str, args: list[str]) -> dict:
    from journeys.dbt import run_dbt, target_dir

    data = DataDir(Path(root))
    result = run_dbt(data, "build", args, quiet=True)
    if not result.ok:
        raise BenchError(f"dbt build failed (exit {result.returncode}): "
                         f"{ {k: dict(v) for k, v in result.statuses.items()} }; "
                         f"see {data.root / 'dbt' / 'logs' / 'dbt.log'}")
    target = target_dir(data)
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    groups = {uid.split(".", 2)[2]: str(Path(node["original_file_path"]).parent
                                         .relative_to("models"))
              for uid, node in nodes.items() if uid.startswith("model.")}
    return {"model_seconds": _model_seconds(target), "model_groups": groups,
            "statuses": {k: dict(v) for k, v in result.statuses.items()}}


def step_funnel(root: str, funnel: dict) -> dict:
    from journeys.dbt import run_dbt, target_dir

    data = DataDir(Path(root))
    result = run_dbt(data, "run", ["--select", *FUNNEL_SELECT,
                                   "--vars", json.dumps({"funnels": [funnel]})], quiet=True)
    if not result.ok:
        raise BenchError(f"dbt run of the {funnel['name']} funnel models failed "
                         f"(exit {result.returncode}); see {data.root / 'dbt' / 'logs'}")
    return {"model_seconds": _model_seconds(target_dir(data))}


def step_export_funnel_events(module: str, warehouse: str, funnel: dict, out: str) -> dict:
    chdb = importlib.import_module(module)
    # every event, as our funnel models read fct_events: windowFunnel picks the steps'
    # events and reads their properties itself
    return {"rows": chdb.export_funnel_events(Path(warehouse), funnel, Path(out),
                                              every_event=True)}


def step_window_funnel(module: str, events: str, funnel: dict, runs: int,
                       workdir: str) -> dict:
    chdb = importlib.import_module(module)
    result = chdb.window_funnel(Path(events), funnel, runs=runs, workdir=Path(workdir),
                                every_event=True)
    return {"steps": [int(n) for n in result.steps], "seconds": result.seconds,
            "all_seconds": list(result.all_seconds), "load_seconds": result.load_seconds,
            "sql": result.sql}


# -- measuring ----------------------------------------------------------------------------


def window_funnel_missing() -> str | None:
    """Why the chdb comparison cannot run here, or None when it can."""
    try:
        importlib.import_module(WINDOW_FUNNEL_MODULE)
    except ImportError as error:
        return (f"{WINDOW_FUNNEL_MODULE} cannot be imported ({error}); the chdb comparison "
                "needs it and the chdb package")
    return None


class StepsDisagree(BenchError):
    """Our funnel mart and chdb's windowFunnel count different persons at a step."""


def check_steps(ours: list[int], chdb: list[int], funnel: dict, where: str) -> None:
    if ours == chdb:
        return
    events = [step["event"] for step in funnel["steps"]]
    for number, event in enumerate(events, 1):
        mine = ours[number - 1] if number <= len(ours) else None
        theirs = chdb[number - 1] if number <= len(chdb) else None
        if mine != theirs:
            raise StepsDisagree(
                f"{where}: the {funnel['name']} funnel's step {number} ({event}) has "
                f"{mine} persons in fct_funnel_steps and {theirs} in chdb's windowFunnel "
                f"(all steps: ours {ours}, chdb {chdb}).")
    raise StepsDisagree(f"{where}: the {funnel['name']} funnel has {len(ours)} steps in "
                        f"fct_funnel_steps and {len(chdb)} in chdb's windowFunnel.")


@dataclass
class Run:
    """What one size's measurements need from the outside: where, and how to talk."""

    events: int
    options: Options
    console: Console
    folder: Path  # this size's work folder
    funnel: dict

    @property
    def name(self) -> str:
        return f"{label(self.events)} events"

    def measure(self, step: str, function: str, **kwargs: Any) -> Measured:
        with self.working(f"[bold]{self.name}[/] · {step}"):
            try:
                measured = run_measured(f"{HERE}:{function}", kwargs, f"{self.name}: {step}")
            except StepFailed as error:
                raise BenchError(str(error)) from error
        self.console.print(f"  {step}: {measured.seconds:,.1f} s, "
                           f"{measured.peak_rss_bytes / 2**20:,.0f} MiB peak RSS",
                           highlight=False)
        return measured

    def working(self, description: str) -> AbstractContextManager:
        """A spinner with the time so far while a step runs, on a terminal only."""
        if not self.console.is_terminal:
            return nullcontext()
        return _Working(self.console, description)


class _Working:
    def __init__(self, console: Console, description: str) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn(description), TimeElapsedColumn(),
                                 console=console, transient=True)

    def __enter__(self) -> None:
        self.progress.start()
        self.progress.add_task("step", total=None)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _medians(dicts: list[dict[str, float]]) -> dict[str, float]:
    keys = dict.fromkeys(k for d in dicts for k in d)
    return {k: _median([d[k] for d in dicts if k in d]) for k in keys}


def measure_run(run: Run, number: int, generated: Path, services: dict[str, dict],
                chdb: bool) -> dict:
    """One run at one size, from an empty raw database to the funnel comparison."""
    from journeys.demo import SOURCES

    root = run.folder / f"run-{number}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    exports = generated / "posthog" / "events"
    sample: dict[str, Any] = {"run": number, "load_average": list(os.getloadavg()),
                              "ingest_source_seconds": {}, "ingest_source_peak_rss_bytes": {}}
    for source in SOURCES:
        measured = run.measure(f"ingest {source}", "step_ingest", root=str(root), source=source,
                               path=str(exports) if source == "posthog-files" else None,
                               overrides=services.get(source, {}))
        sample["ingest_source_seconds"][source] = round(measured.seconds, 3)
        sample["ingest_source_peak_rss_bytes"][source] = measured.peak_rss_bytes
        if source == "posthog-files":
            sample["raw_posthog_rows"] = measured.value["table_rows"].get("events", 0)
    floor = run.measure("ingest floor (DuckDB read_json)", "step_floor", files=str(exports),
                        database=str(root / "floor.duckdb"))
    sample.update(ingest_floor_seconds=round(floor.seconds, 3),
                  ingest_floor_peak_rss_bytes=floor.peak_rss_bytes, floor_rows=floor.value["rows"])
    (root / "floor.duckdb").unlink()
    if sample["floor_rows"] != sample["raw_posthog_rows"]:
        raise BenchError(
            f"{run.name}, run {number}: the floor (DuckDB read_json of {exports}) has "
            f"{sample['floor_rows']:,} rows and raw_posthog.events {sample['raw_posthog_rows']:,}"
            ": they read the same files and must agree (rejected rows? see the raw schema's "
            "_rejected_records).")
    build = run.measure("dbt build", "step_build", root=str(root),
                        args=run.options.build_args)
    sample.update(build_seconds=round(build.seconds, 3), build_peak_rss_bytes=build.peak_rss_bytes,
                  build_processes=build.processes, model_seconds=build.value["model_seconds"],
                  model_groups=build.value["model_groups"])
    ours = run.measure(f"{FUNNEL} funnel (our models)", "step_funnel", root=str(root),
                       funnel=run.funnel)
    sample.update(funnel_seconds=round(sum(ours.value["model_seconds"].values()), 3),
                  funnel_wall_seconds=round(ours.seconds, 3),
                  funnel_model_seconds=ours.value["model_seconds"],
                  funnel_peak_rss_bytes=ours.peak_rss_bytes)
    if chdb:
        sample.update(_chdb(run, number, root))
    if not run.options.keep or number < run.options.runs:
        shutil.rmtree(root)
    return sample


def _chdb(run: Run, number: int, root: Path) -> dict:
    name = WINDOW_FUNNEL_MODULE  # the children import it by this name
    warehouse = DataDir(root).warehouse_db
    out = root / "chdb" / "funnel_events.parquet"
    out.parent.mkdir()
    export = run.measure("chdb: export the events", "step_export_funnel_events",
                         module=name, warehouse=str(warehouse), funnel=run.funnel,
                         out=str(out))
    chdb = run.measure("chdb windowFunnel", "step_window_funnel", module=name,
                       events=str(out), funnel=run.funnel, runs=3,
                       workdir=str(root / "chdb"))
    ours = [int(n) for n in importlib.import_module(name).mart_steps(warehouse, FUNNEL)]
    check_steps(ours, chdb.value["steps"], run.funnel, f"{run.name}, run {number}")
    run.console.print(f"  per-step counts agree: {ours}", highlight=False)
    return {"chdb_export_seconds": round(export.seconds, 3),
            "chdb_export_rows": export.value["rows"],
            "chdb_window_funnel_seconds": round(chdb.value["seconds"], 4),
            "chdb_all_seconds": chdb.value["all_seconds"],
            "chdb_load_seconds": chdb.value["load_seconds"],
            "chdb_peak_rss_bytes": chdb.peak_rss_bytes, "chdb_sql": chdb.value["sql"],
            "funnel_steps": ours, "chdb_steps": chdb.value["steps"]}


def summarize(events: int, users: int, generate: Measured, gzip_seconds: float | None,
              export_bytes: int, samples: list[dict], chdb_skipped: str | None,
              build_args: list[str], machine_facts: dict, version_facts: dict,
              started: str) -> dict:
    """One size's object in the results' `runs`: medians (seconds) and maxima (memory) over
    the runs, and every run's own figures under `samples`."""
    rows = generate.value["rows"]
    total = rows["posthog_export_rows"] + rows["app_events"]
    median = lambda key: _median([s[key] for s in samples]) if all(  # noqa: E731
        key in s for s in samples) else None
    ingest = _medians([s["ingest_source_seconds"] for s in samples])
    out: dict[str, Any] = {
        "events": total,
        "events_requested": events,
        "label": label(events),
        "users": users,
        "posthog_export_rows": rows["posthog_export_rows"],
        "app_events": rows["app_events"],
        "export_format": "jsonl.gz" if gzip_seconds is not None else "jsonl",
        "export_bytes": export_bytes,
        "date": started,
        "runs_measured": len(samples),
        "generate_seconds": round(generate.seconds, 3),
        "generate_peak_rss_bytes": generate.peak_rss_bytes,
        "gzip_seconds": gzip_seconds,
        "ingest_seconds": ingest.get("posthog-files"),
        "ingest_source_seconds": ingest,
        "ingest_all_sources_seconds": _median(
            [sum(s["ingest_source_seconds"].values()) for s in samples]),
        "ingest_peak_rss_bytes": max(max(s["ingest_source_peak_rss_bytes"].values())
                                     for s in samples),
        "ingest_source_peak_rss_bytes": {
            source: max(s["ingest_source_peak_rss_bytes"][source] for s in samples)
            for source in ingest},
        "ingest_floor_seconds": median("ingest_floor_seconds"),
        "ingest_floor_peak_rss_bytes": max(s["ingest_floor_peak_rss_bytes"] for s in samples),
        "raw_posthog_rows": samples[-1]["raw_posthog_rows"],
        "floor_rows": samples[-1]["floor_rows"],
        "build_seconds": median("build_seconds"),
        "build_args": build_args,
        "peak_rss_bytes": max(s["build_peak_rss_bytes"] for s in samples),
        "build_processes": max(s["build_processes"] for s in samples),
        "model_seconds": _medians([s["model_seconds"] for s in samples]),
        "model_groups": samples[-1]["model_groups"],
        "funnel": FUNNEL,
        "funnel_seconds": median("funnel_seconds"),
        "funnel_wall_seconds": median("funnel_wall_seconds"),
        "funnel_model_seconds": _medians([s["funnel_model_seconds"] for s in samples]),
        "funnel_peak_rss_bytes": max(s["funnel_peak_rss_bytes"] for s in samples),
        "chdb_window_funnel_seconds": median("chdb_window_funnel_seconds"),
        "chdb_load_seconds": median("chdb_load_seconds"),
        "chdb_export_seconds": median("chdb_export_seconds"),
        "chdb_peak_rss_bytes": (max(s["chdb_peak_rss_bytes"] for s in samples)
                                if chdb_skipped is None else None),
        "chdb_skipped": chdb_skipped,
        "chdb_sql": samples[-1].get("chdb_sql"),
        "funnel_steps": samples[-1].get("funnel_steps"),
        "chdb_steps": samples[-1].get("chdb_steps"),
        "steps_agree": None if chdb_skipped else True,  # a disagreement stops the harness
        "load_average": samples[0]["load_average"],
        "machine": machine_facts,
        "versions": version_facts,
    }
    out["ratios"] = report.ratios(out)
    per_second = lambda n, s: round(n / s) if s else None  # noqa: E731
    out["events_per_second"] = {
        "generate": per_second(total, out["generate_seconds"]),
        "ingest": per_second(out["posthog_export_rows"], out["ingest_seconds"]),
        "ingest_floor": per_second(out["posthog_export_rows"], out["ingest_floor_seconds"]),
        "build": per_second(total, out["build_seconds"]),
    }
    out["samples"] = [{k: v for k, v in s.items() if k not in ("model_groups", "chdb_sql")}
                      for s in samples]
    return out


# -- the whole benchmark ------------------------------------------------------------------


@contextmanager
def work_folder(options: Options) -> Iterator[Path]:
    """The given --data-dir (kept), or a temporary folder under the data dir (removed
    afterwards unless --keep)."""
    if options.work is not None:
        options.work.mkdir(parents=True, exist_ok=True)
        yield options.work.resolve()
        return
    parent = DataDir.resolve().root
    made = not parent.exists()
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=parent))
    try:
        yield folder
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)
            if made:  # the data dir this made for it, if nothing else went there since
                with contextlib.suppress(OSError):
                    parent.rmdir()


def bench_size(events: int, options: Options, console: Console, folder: Path,
               chdb_skipped: str | None) -> dict:
    from journeys.demo import DemoSources

    run = Run(events, options, console, folder, activation_funnel())
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine_facts, version_facts = machine(), versions()
    users = users_for(events)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    generated = folder / "generated"
    console.rule(f"[bold]{run.name}[/] ({users:,} users, {options.runs} runs)")
    generate = run.measure(f"generate {users:,} users", "step_generate", out=str(generated),
                           users=users, seed=SEED)
    exports = generated / "posthog" / "events"
    gzip_seconds = None
    if options.gzip:
        gzip_seconds = round(run.measure("gzip the export files", "step_gzip",
                                         folder=str(exports)).seconds, 3)
    export_bytes = sum(p.stat().st_size for p in exports.iterdir())
    with run.working("starting the demo's Postgres and CRM stand-ins"):
        services = DemoSources.start(generated, folder / "postgres")
    samples = []
    try:
        with services:
            for number in range(1, options.runs + 1):
                console.print(f"[bold]{run.name}[/], run {number}/{options.runs}")
                samples.append(measure_run(run, number, generated, services.overrides,
                                           chdb_skipped is None))
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return summarize(events, users, generate, gzip_seconds, export_bytes, samples,
                     chdb_skipped, options.build_args, machine_facts, version_facts, started)


def record(results_path: Path, report_path: Path, size: dict) -> dict:
    """Put one size's object into the results file (replacing that size's earlier one,
    which moves to `history`) and render the report from the whole file."""
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    runs = results.setdefault("runs", [])
    history = results.setdefault("history", [])
    for old in [r for r in runs if r["events_requested"] == size["events_requested"]]:
        runs.remove(old)
        history.append({k: v for k, v in old.items() if k != "samples"})
    runs.append(size)
    runs.sort(key=lambda r: r["events_requested"])
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, report_path)
    return results


def run(options: Options, console: Console | None = None,
        on_size: Callable[[dict], None] | None = None) -> dict:
    """Measure every size in `options.sizes`, writing the results and the report after each
    one. Raises BenchError naming the step that failed."""
    console = console or Console(stderr=True)
    chdb_skipped = None
    if options.chdb:
        if missing := window_funnel_missing():
            raise BenchError(f"{missing}. Install it, or run with --no-chdb to measure "
                             "everything else.")
    else:
        chdb_skipped = "run with --no-chdb"
    results: dict = {}
    with work_folder(options) as work:
        if options.keep:
            console.print(f"work folder (kept): {work}")
        for events in options.sizes:
            check_disk(work, events, options.gzip)
        for events in options.sizes:
            check_disk(work, events, options.gzip)  # others may have filled it since
            size = bench_size(events, options, console, work / label(events), chdb_skipped)
            results = record(options.results, options.report, size)
            if on_size:
                on_size(size)
    return results
