"""`journeys`: generate demo data, ingest sources, build the warehouse, run the demo.

Every command takes --data-dir (env JOURNEYS_DATA_DIR, default ./data): the folder that
holds one warehouse's raw and warehouse DuckDB files.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from journeys import generator, quality
from journeys.dbt import DbtError, run_dbt, target_dir
from journeys.ingest import SOURCES, IngestError, SourceResult, default_sources, run_source
from journeys.locks import EXIT_BUSY, Busy, data_dir_lock
from journeys.paths import DATA_DIR_ENV, DataDir
from journeys.progress import ingest_progress

console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DATA_DIR_ENV,
    default=Path("data"),
    show_default=True,
    show_envvar=True,
    help="Folder holding this warehouse's raw and warehouse DuckDB files.",
)


defects_option = click.option(
    "--defects",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of app users whose users row has no email and no signed_up_at "
    "(chosen by the seed): the customer's data-quality problems, which warn and are "
    "counted but never stop the build.",
)


def fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    sys.exit(code)


@contextmanager
def writing(data: DataDir, command: str) -> Iterator[None]:
    """Hold `data`'s writer lock for the whole command (journeys.locks): another writer
    there, or another process holding one of its DuckDB files, ends the command at once
    with a message naming that process (exit 75, "try again later")."""
    try:
        with data_dir_lock(data, command):
            yield
    except Busy as error:
        fail(str(error), EXIT_BUSY)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="journeys")
def main() -> None:
    """Journeys: every step trial users take before they convert or churn, and why."""


# -- generate ----------------------------------------------------------------------------


def _generate(out: Path, users: int, seed: int, fmt: str, start: dt.date, quiet: bool,
              defects: float = 0.0) -> dict:
    columns = (
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("users · {task.fields[events]:,} events"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=quiet) as bar:
        task = bar.add_task("generate", total=users, events=0)

        def update(p: generator.Progress) -> None:
            bar.update(task, completed=p.users_done, events=p.posthog_rows + p.app_events)

        try:
            return generator.generate(
                out, users=users, seed=seed, fmt=fmt, start=start, on_progress=update,
                defects=defects,
            )
        except ValueError as error:
            fail(str(error), 2)
            raise


@main.command()
@data_dir_option
@click.option(
    "--users",
    type=click.IntRange(min=1),
    default=5_000,
    show_default=True,
    help="Trial users to simulate (about 200 events each).",
)
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help="Random seed: the same seed gives the same files.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder [default: DATA_DIR/generated].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(generator.FORMATS),
    default="jsonl",
    show_default=True,
    help="PostHog export file format.",
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=str(generator.DEFAULT_START),
    show_default=True,
    help="Monday of the first signup week (26 weeks follow).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@defects_option
def generate(
    data_dir: Path,
    users: int,
    seed: int,
    out: Path | None,
    fmt: str,
    start: dt.datetime,
    quiet: bool,
    defects: float,
) -> None:
    """Simulate a B2B SaaS trial population and write every source in its native shape.

    Writes PostHog batch-export files, the app's users/events tables (schema.sql + CSV),
    HubSpot and Intercom list-API pages, and truth.json with the planted facts.
    """
    target = out or DataDir.resolve(data_dir).generated
    truth = _generate(target, users, seed, fmt, start.date(), quiet, defects)
    rows = truth["rows"]
    console.print(
        f"wrote {rows['posthog_export_rows']:,} PostHog export rows, "
        f"{rows['app_events']:,} app events and {truth['users']:,} users to [bold]{target}[/]"
    )


# -- ingest ------------------------------------------------------------------------------


def _print_ingest(results: list[SourceResult]) -> None:
    table = Table(title="ingest", title_justify="left")
    for column in ("source", "table", "rows loaded", "rows in table", "rejected", "cursor"):
        numeric = column.startswith("rows") or column == "rejected"
        table.add_column(column, justify="right" if numeric else "left",
                         no_wrap=column == "table")
    for r in results:
        names = sorted((set(r.rows_extracted) | set(r.table_rows)) - {"_rejected_records"})
        rows = [(name, r.cursors.get(name, "")) for name in names or ["-"]]
        # cursors kept by resources that are not tables themselves (HubSpot's searches)
        rows += [(f"  ({resource})", cursor) for resource, cursor in sorted(r.cursors.items())
                 if resource not in names]
        for i, (name, cursor) in enumerate(rows):
            in_table = name in r.table_rows or name in r.rows_extracted
            table.add_row(
                r.source if i == 0 else "",
                f"{r.dataset}.{name}" if in_table else name,
                f"{r.rows_extracted.get(name, 0):,}" if in_table else "",
                f"{r.table_rows.get(name, 0):,}" if in_table else "",
                f"{r.rows_rejected:,}" if i == 0 else "",
                cursor,
            )
    console.print(table)
    shown = 20  # skipped files named; a count for the rest
    for r in results:
        if r.skipped_files:
            count = len(r.skipped_files)
            names = ", ".join(escape(n) for n in r.skipped_files[:shown])
            more = f" and {count - shown:,} more" if count > shown else ""
            console.print(f"[yellow]{r.source}: skipped {count:,} file{'s' * (count != 1)}[/] "
                          f"(not a file type it reads): {names}{more}")
    rejected = sum(r.rows_rejected for r in results)
    if rejected:
        console.print(f"[yellow]{rejected:,} rows rejected[/]: see the _rejected_records "
                      "table of each raw schema for the reason and where each row came from.")
    for r in results:
        for location, why in r.unreadable_files.items():
            console.print(f"[bold red]could not read[/] {location} ({r.source}): {why}",
                          soft_wrap=True, highlight=False)


def _ingest(
    data_dir: DataDir,
    sources: list[str] | None,
    path: str | None,
    overrides: dict[str, dict] | None = None,
) -> list[SourceResult]:
    if path and not sources:
        fail("--path needs --source (which kind of files are there?)", 2)
    names = sources or default_sources(data_dir)
    if not names:
        fail(
            f"nothing to ingest: no generated data in {data_dir.generated} and no source "
            "configured. Run `journeys generate` first, configure a source (README, "
            "Sources), or pass --source and --path.",
            2,
        )
    results = []
    for name in names:
        # a live line per source on a terminal (rows read, rows/s, rejected); nothing
        # when stderr is not one
        with ingest_progress(console, name) as progress:
            try:
                results.append(run_source(data_dir, name, path, progress=progress,
                                          **(overrides or {}).get(name, {})))
            except IngestError as error:
                fail(str(error))
    _print_ingest(results)
    unreadable = sum(len(r.unreadable_files) for r in results)
    if unreadable:  # everything else loaded; a nightly job must still notice
        fail(f"{unreadable} file(s) could not be read (named above, each kept as one row of "
             "_rejected_records); the rest loaded. Fix or replace them and run `journeys "
             "ingest` again: only those files are read again.")
    return results


@main.command()
@data_dir_option
@click.option(
    "--source",
    type=click.Choice(list(SOURCES)),
    default=None,
    help="Load only this source [default: every configured source, and the file sources "
    "found in DATA_DIR/generated].",
)
@click.option(
    "--path", default=None, help="For file sources: folder or fsspec URL (s3://...) to read."
)
def ingest(data_dir: Path, source: str | None, path: str | None) -> None:
    """Load sources into DATA_DIR/raw.duckdb with dlt (incremental, merged, idempotent).

    Ends with a summary per table: rows loaded this run, rows in the table, rows
    rejected (kept in _rejected_records) and each resource's incremental cursor.
    """
    data = DataDir.resolve(data_dir)
    with writing(data, "ingest"):
        _ingest(data, [source] if source else None, path)


# -- build -------------------------------------------------------------------------------


def _build(data_dir: DataDir, dbt_args: tuple[str, ...], show_quality: bool = True):
    try:
        result = run_dbt(data_dir, "build", list(dbt_args))
    except DbtError as error:
        fail(str(error))
        raise
    if show_quality or not result.ok:
        # rows the customer's data-quality rules found, per rule (warn tests never stop it)
        quality.print_findings(console, quality.findings(data_dir))
    if not result.ok:
        fail(
            f"dbt build failed (exit {result.returncode}); see the output above or "
            f"{data_dir.root / 'dbt' / 'logs' / 'dbt.log'}.",
            result.returncode,
        )
    return result


@main.command(context_settings={"ignore_unknown_options": True})
@data_dir_option
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def build(data_dir: Path, dbt_args: tuple[str, ...]) -> None:
    """Run `dbt build` against DATA_DIR. Arguments after `--` go to dbt, for example:

    journeys build -- --select marts.core --vars '{trial_days: 21}'
    """
    data = DataDir.resolve(data_dir)
    with writing(data, "build"):
        _build(data, dbt_args)


# -- docs and contracts ------------------------------------------------------------------


@main.command()
@data_dir_option
def docs(data_dir: Path) -> None:
    """Write dbt's documentation site as one static HTML file into DATA_DIR/docs.

    Every model and column with its description, the marts' versions, owners and
    deprecation dates, and the lineage graph from sources to marts; column types come from
    DATA_DIR's warehouse, so build it first. The file opens offline, no server needed.
    """
    data = DataDir.resolve(data_dir)
    if not data.warehouse_db.exists():
        console.print("[yellow]no warehouse built in this data dir yet:[/] the docs will "
                      "have descriptions but no column types (run `journeys build` first)")
    with writing(data, "docs"):
        try:
            result = run_dbt(data, "docs generate", ["--static"], quiet=True)
        except DbtError as error:
            fail(str(error))
            raise
    site = target_dir(data) / "static_index.html"
    if not result.ok or not site.exists():
        fail(f"dbt docs generate failed (exit {result.returncode}); see "
             f"{data.root / 'dbt' / 'logs' / 'dbt.log'}.", result.returncode or 1)
    out = data.root / "docs" / "index.html"
    out.parent.mkdir(exist_ok=True)
    shutil.copyfile(site, out)
    console.print(f"docs: {out} ({out.stat().st_size / 1e6:,.1f} MB; open it in a browser)")
    print(out)


@main.command()
@click.option("--release", is_flag=True,
              help="Make the current contracts the released ones (state/manifest.json); "
              "the release step in CHANGELOG.md.")
def contracts(release: bool) -> None:
    """Check that no released mart changed its contract without a new version.

    Compares every contracted model with the released manifest (state/manifest.json)
    through dbt's state comparison; a removed column, a changed type or a dropped
    constraint of a released version fails with dbt's breaking-change error. Exit 1 then.
    """
    from journeys import contracts as checks

    if release:
        console.print(f"released: {checks.release()}")
        return
    result = checks.check()
    if not result.ok:
        console.print(result.output[-6000:], markup=False, highlight=False)
        fail("a released mart's contract changed: give the model a new version "
             "(CHANGELOG.md, \"Versions\") or undo the change.")
    console.print("contracts: no breaking change against the released manifest")


# -- funnel ------------------------------------------------------------------------------


@main.command("funnel")
@data_dir_option
@click.argument("steps", nargs=-1, required=True)
@click.option("--order", type=click.Choice(["ordered", "strict", "unordered"]),
              default="ordered", show_default=True)
@click.option("--window", default="14d", show_default=True,
              help="Conversion window: 14d, 48h or 3600s.")
@click.option("--breakdown", default=None, help="A dim_persons column, e.g. first_touch_source.")
@click.option("--breakdown-property", default=None,
              help="An event property (first touch), e.g. '$browser'.")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First day (inclusive, UTC).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last day (inclusive, UTC).")
def funnel(data_dir: Path, steps: tuple[str, ...], order: str, window: str,
           breakdown: str | None, breakdown_property: str | None,
           date_from: dt.datetime | None, date_to: dt.datetime | None) -> None:
    """Try a funnel: build it with the funnel models and print its steps.

    STEPS are event names, optionally with event property filters:
    `journeys funnel signed_up workspace_created first_item_created:item_type=project`.
    It is built into the adhoc_* schemas; the configured funnels' marts are untouched.
    Add it to the `funnels` var in dbt_project.yml to keep it.
    """
    from journeys import funnel as adhoc

    data = DataDir.resolve(data_dir)
    if not data.warehouse_db.exists():
        fail(f"{data.warehouse_db} does not exist: run `journeys build` first.", 2)
    try:
        definition = adhoc.definition(
            list(steps), order, window, breakdown, breakdown_property,
            date_from.date().isoformat() if date_from else None,
            date_to.date().isoformat() if date_to else None)
    except adhoc.FunnelError as error:
        fail(str(error), 2)
        raise
    with console.status(f"building the funnel ({len(steps)} steps) ..."):
        result = adhoc.build(data, definition)
    if not result.ok:
        fail(f"the funnel did not build (dbt exit {result.returncode}); see "
             f"{data.root / 'dbt' / 'logs' / 'dbt.log'}.", result.returncode)
    rows = adhoc.read_steps(data)
    table = Table(title=" → ".join(steps), title_justify="left")
    if breakdown or breakdown_property:
        table.add_column(breakdown or breakdown_property)
    for name in ("step", "event", "persons", "from previous", "from first", "median time"):
        table.add_column(name, justify="right" if name not in ("event",) else "left")
    for row in rows:
        cells = [str(row.step_number), steps[row.step_number - 1], f"{row.persons:,}",
                 adhoc.percent(row.from_previous), adhoc.percent(row.from_first),
                 adhoc.duration(row.median_seconds)]
        table.add_row(*([row.breakdown_value] if breakdown or breakdown_property else []),
                      *cells)
    Console(width=None if sys.stdout.isatty() else 160).print(table)


# -- lint-plan ---------------------------------------------------------------------------


@main.command("lint-plan")
@data_dir_option
@click.option("--plan-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding tracking_plan.csv and tracking_plan_properties.csv "
                   "[default: the project's seeds/].")
@click.option("--no-data", is_flag=True, help="Check the plan only, not the warehouse.")
def lint_plan(data_dir: Path, plan_dir: Path | None, no_data: bool) -> None:
    """Check the tracking plan's naming rules, and what the warehouse saw against it.

    Plan: snake_case object_action names in the past tense (an approved verb), at most 40
    characters, no two names equal once case and separators are ignored. Data (the last
    build's marts.fct_tracking_plan_coverage): unknown or removed events arriving are
    errors; deprecated events and property problems are warnings. Exits 1 on any error.
    """
    from journeys import plan as tracking_plan

    try:
        loaded = tracking_plan.load_plan(plan_dir or tracking_plan.SEEDS_DIR)
    except tracking_plan.PlanError as error:
        fail(str(error))
        raise
    findings = tracking_plan.lint(loaded)
    if not no_data:
        findings += tracking_plan.data_findings(DataDir.resolve(data_dir).warehouse_db)
    for finding in findings:
        colour = "red" if finding.severity == "error" else "yellow"
        console.print(f"[{colour}]{finding.severity}[/]: [bold]{finding.subject}[/]: "
                      f"{finding.message}", highlight=False)
    errors = sum(f.severity == "error" for f in findings)
    console.print(f"tracking plan: {len(loaded.events)} events; {errors} errors, "
                  f"{len(findings) - errors} warnings")
    if errors:
        raise SystemExit(1)


# -- bench -------------------------------------------------------------------------------


class EventCounts(click.ParamType):
    """`1M`, `10M,50M`, `2.5k` or `3000`: one or more event counts."""

    name = "N"

    def convert(self, value, param, ctx) -> list[int]:
        if isinstance(value, list):
            return value
        from journeys.bench.harness import parse_events

        try:
            return parse_events(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


@main.command()
@click.option("--events", "sizes", type=EventCounts(), multiple=True,
              help="Sizes to measure, in events: repeat it or give a list "
              "(--events 1M --events 10M, --events 1M,10M) [default: 1M and 10M].")
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per size; each figure is their median (generation runs once).")
@click.option("--data-dir", "work", type=click.Path(file_okay=False, path_type=Path),
              default=None,
              help="Work folder for the generated files and each run's databases "
              "[default: a temporary folder under JOURNEYS_DATA_DIR or ./data, removed "
              "at the end].")
@click.option("--keep", is_flag=True,
              help="Keep each size's generated files and its last run's databases.")
@click.option("--gzip", "gzipped", is_flag=True,
              help="Gzip the PostHog export files after generating them (as PostHog's S3 "
              "export can): a twelfth of their size; the ingest and the floor read .gz.")
@click.option("--chdb/--no-chdb", default=True, show_default=True,
              help="Compare the activation funnel with ClickHouse's windowFunnel (chdb).")
@click.option("--json", "results", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Results file [default: docs/benchmarks.json].")
@click.option("--markdown", "markdown", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Report rendered from it [default: docs/benchmarks.md].")
def bench(sizes: tuple[list[int], ...], runs: int, work: Path | None, keep: bool,
          gzipped: bool, chdb: bool, results: Path | None, markdown: Path | None) -> None:
    """Measure generation, ingest, the dbt build and the funnel marts at each size.

    For each size: generate the demo data once, then RUNS times from empty: ingest every
    source (each timed), DuckDB's read_json of the same PostHog files (the floor), the
    full dbt build (every model timed) and the activation funnel against chdb's
    windowFunnel (their per-step counts must be equal). Times are medians, with every
    step's peak resident memory. Writes docs/benchmarks.json and docs/benchmarks.md
    (never edit that page by hand); exits 1 naming the step that failed.
    """
    from journeys.bench import harness

    options = harness.Options(
        sizes=[n for group in sizes for n in group] or list(harness.DEFAULT_SIZES),
        runs=runs, work=work, keep=keep, gzip=gzipped, chdb=chdb,
        results=results or harness.RESULTS, report=markdown or harness.REPORT)
    try:
        written = harness.run(options, console)
    except harness.BenchError as error:
        fail(str(error))
        raise
    _print_bench(written, options.sizes)
    console.print(f"results: [bold]{options.results}[/], report: [bold]{options.report}[/]")
    if runs < 3:
        console.print(f"[yellow]{runs} run(s) per size:[/] the issue's figures are medians "
                      "of at least 3.")


def _print_bench(results: dict, sizes: list[int]) -> None:
    from journeys.bench import report

    runs = [r for r in results.get("runs", []) if r["events_requested"] in sizes]
    table = Table(title="benchmark (medians)", title_justify="left")
    for column in ("size", "generate", "ingest PostHog", "floor", "ingest ÷ floor",
                   "every source", "dbt build", "build peak", "funnel (ours)", "chdb",
                   "ours ÷ chdb"):
        table.add_column(column, justify="left" if column == "size" else "right")
    for r in runs:
        ratios = r["ratios"]
        table.add_row(
            f"{r['label']} ({r['events']:,})", report.seconds(r["generate_seconds"]),
            report.seconds(r["ingest_seconds"]), report.seconds(r["ingest_floor_seconds"]),
            report.times(ratios["ingest_vs_floor"]),
            report.seconds(r["ingest_all_sources_seconds"]), report.seconds(r["build_seconds"]),
            report.mib(r["peak_rss_bytes"]), report.seconds(r["funnel_seconds"]),
            report.seconds(r["chdb_window_funnel_seconds"]),
            report.times(ratios["funnel_vs_chdb"]))
    console.print(table)
    targets = Table(title="targets", title_justify="left")
    for column in ("target", "size", "measured", "status"):
        targets.add_column(column, justify="right" if column == "measured" else "left")
    colours = {report.MET: "green", report.NOT_MET: "red", report.NOT_MEASURED: "yellow"}
    for t in report.targets(results.get("runs", [])):
        targets.add_row(t.target, t.size, t.measured,
                        f"[{colours[t.status]}]{t.status}[/]" + (f" ({t.note})" if t.note else ""))
    console.print(targets)


# -- demo --------------------------------------------------------------------------------


@main.command()
@data_dir_option
@click.option("--users", type=click.IntRange(min=1), default=5_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@defects_option
def demo(data_dir: Path, users: int, seed: int, defects: float) -> None:
    """Generate demo data, ingest it, dbt build, and print a summary.

    The demo owns DATA_DIR: a rerun starts from empty. It refuses a DATA_DIR that holds a
    warehouse it did not create.
    """
    data = DataDir.resolve(data_dir)
    with writing(data, "demo"):
        _demo(data, users, seed, defects)


def _demo(data: DataDir, users: int, seed: int, defects: float) -> None:
    from journeys.demo import SOURCES, DemoSources, print_summary, summarize

    try:
        data.reset_for_demo()
    except FileExistsError as error:
        fail(str(error), 2)
    console.rule("[bold]1/3 generate")
    _generate(data.generated, users, seed, "jsonl", generator.DEFAULT_START, quiet=False,
              defects=defects)
    console.rule("[bold]2/3 ingest")
    # the real pipelines, against a real (embedded) Postgres for the app's tables and
    # local stand-ins serving the generated HubSpot and Intercom pages (no credentials)
    with console.status("starting an embedded Postgres and local CRM stand-ins ..."):
        sources = DemoSources.start(data.generated, data.root / "postgres")
    with sources:
        _ingest(data, list(SOURCES), None, sources.overrides)
    console.rule("[bold]3/3 dbt build")
    result = _build(data, (), show_quality=False)
    print_summary(console, summarize(data, result))


if __name__ == "__main__":
    main()
