"""docs/benchmarks.md, rendered from docs/benchmarks.json and from nothing else.

Both writers of the results call `write`: `journeys bench` (the `runs` of each size and
their `history`) and scripts/bench_marts.py (the `funnels` and `behaviour` suites). The
page is never edited by hand; notes on the figures go in docs/performance-notes.md.

    report.write(json.loads(Path("docs/benchmarks.json").read_text()), Path("docs/benchmarks.md"))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GIB = 2**30
MIB = 2**20
# the targets on the 2-core machine
INGEST_VS_FLOOR_MAX = 1.5  # PostHog export ingest at most 1.5x DuckDB's read_json
BUILD_SIZE = 50_000_000  # the build targets are for 50M events
BUILD_SECONDS_MAX = 300.0  # within 5 minutes
BUILD_PEAK_MAX = 8 * GIB  # peak memory under 8 GiB
FUNNEL_VS_CHDB_MAX = 1.0  # no slower than chdb's windowFunnel
FUNNEL_VS_CHDB_AIM = 0.7
# "cost grows linearly from 1M to 50M": the seconds per million events of each stage at the
# largest size are at most this many times those at the smallest
LINEAR_TOLERANCE = 1.25
LINEAR_SMALLEST_MAX = 1_500_000  # the smallest size must be about 1M ...
LINEAR_LARGEST_MIN = BUILD_SIZE  # ... and the largest at least 50M
MET, NOT_MET, NOT_MEASURED = "met", "not met", "not measured"

SUITE_TITLES = {"funnels": "funnel engine + marts", "behaviour": "behaviour marts"}
SUITE_HEADINGS = {
    "funnels": ("Funnels and retention (`scripts/bench_marts.py --suite funnels`)",
                "`dbt run` of the funnel engine (`models/intermediate/funnels`) and the funnel "
                "and retention marts alone, on a demo warehouse, `--repeat` times."),
    "behaviour": ("Behaviour marts (`scripts/bench_marts.py --suite behaviour`)",
                  "`dbt run` of segments, journeys, conversion drivers, triggers, lifecycle, "
                  "tracking loss and daily metrics (with their intermediate models) alone, on "
                  "a demo warehouse, `--repeat` times."),
}


# -- numbers ------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{_figure(value)} s"


def _figure(value: float) -> str:
    """Three decimals below a second, two below ten, then one."""
    return f"{value:,.3f}" if value < 1 else f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def mib(value: int | None) -> str:
    return "–" if value is None else f"{value / MIB:,.0f} MiB"


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def per_second(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def ratios(run: dict) -> dict[str, float | None]:
    """Our time over the reference's: ingest over the floor, our funnel over chdb's."""
    def over(ours: str, theirs: str) -> float | None:
        a, b = run.get(ours), run.get(theirs)
        return round(a / b, 3) if a is not None and b else None

    return {"ingest_vs_floor": over("ingest_seconds", "ingest_floor_seconds"),
            "funnel_vs_chdb": over("funnel_seconds", "chdb_window_funnel_seconds")}


def per_million(value: float | None, events: int) -> float | None:
    """Seconds per million events."""
    return None if value is None else value / (events / 1e6)


# -- targets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    target: str
    size: str
    measured: str
    status: str  # met | not met | not measured
    note: str = ""


def _size_at_least(runs: list[dict], events: int) -> dict | None:
    large = [r for r in runs if r["events"] >= events]
    return min(large, key=lambda r: r["events"]) if large else None


# the stages whose cost must grow linearly: (name in the growth table, the run's seconds)
GROWTH_STAGES: list[tuple[str, Callable[[dict], float | None]]] = [
    ("generate", lambda r: r.get("generate_seconds")),
    ("ingest: PostHog export files", lambda r: r.get("ingest_seconds")),
    ("floor: DuckDB read_json", lambda r: r.get("ingest_floor_seconds")),
    ("ingest: every source", lambda r: r.get("ingest_all_sources_seconds")),
    ("dbt build", lambda r: r.get("build_seconds")),
    ("activation funnel: our models", lambda r: r.get("funnel_seconds")),
    ("activation funnel: chdb windowFunnel", lambda r: r.get("chdb_window_funnel_seconds")),
]
LINEAR_STAGES = ("ingest: every source", "dbt build", "activation funnel: our models")


def growth(runs: list[dict]) -> list[tuple[str, list[float | None], float | None]]:
    """Per stage: seconds per million events at each size (smallest first), and the
    largest size's figure divided by the smallest's (1.0: exactly linear)."""
    ordered = sorted(runs, key=lambda r: r["events"])
    rows = []
    for stage, value in GROWTH_STAGES:
        figures = [per_million(value(r), r["events"]) for r in ordered]
        first, last = figures[0] if figures else None, figures[-1] if figures else None
        ratio = last / first if len(figures) > 1 and first and last is not None else None
        rows.append((stage, figures, ratio))
    return rows


def targets(runs: list[dict]) -> list[Target]:
    """Each of the issue's targets against the runs: met, not met, or not measured."""
    out: list[Target] = []
    ordered = sorted(runs, key=lambda r: r["events"])
    name = "ingest of PostHog export files ≤ 1.5× DuckDB read_json of the same files"
    for r in ordered:
        ratio = ratios(r)["ingest_vs_floor"]
        status = NOT_MEASURED if ratio is None else MET if ratio <= INGEST_VS_FLOOR_MAX \
            else NOT_MET
        out.append(Target(name, r["label"], times(ratio), status))
    if not ordered:
        out.append(Target(name, "–", "–", NOT_MEASURED, "no size measured yet"))
    big = _size_at_least(ordered, BUILD_SIZE)
    why = "" if big else "no run of 50M events or more (`make bench-50m`)"
    build = big.get("build_seconds") if big else None
    out.append(Target("full dbt build of 50M events within 5 minutes",
                      big["label"] if big else "50M", seconds(build),
                      NOT_MEASURED if build is None else
                      MET if build <= BUILD_SECONDS_MAX else NOT_MET, why))
    peak = big.get("peak_rss_bytes") if big else None
    out.append(Target("peak memory of that build under 8 GiB", big["label"] if big else "50M",
                      mib(peak), NOT_MEASURED if peak is None else
                      MET if peak < BUILD_PEAK_MAX else NOT_MET, why))
    name = "activation funnel mart no slower than chdb windowFunnel (time ratio ≤ 1.0; aim 0.7)"
    for r in ordered:
        ratio = ratios(r)["funnel_vs_chdb"]
        if ratio is None:
            out.append(Target(name, r["label"], "–", NOT_MEASURED,
                              r.get("chdb_skipped") or "chdb not run"))
            continue
        met = ratio <= FUNNEL_VS_CHDB_MAX
        aim = ("" if not met else
               "aim 0.7 met too" if ratio <= FUNNEL_VS_CHDB_AIM else "aim 0.7 not met")
        out.append(Target(name, r["label"], times(ratio), MET if met else NOT_MET, aim))
    for r in ordered:
        if r.get("steps_agree") is None:
            out.append(Target("per-step counts equal to chdb windowFunnel's", r["label"], "–",
                              NOT_MEASURED, r.get("chdb_skipped") or "chdb not run"))
        else:
            out.append(Target("per-step counts equal to chdb windowFunnel's", r["label"],
                              ", ".join(f"{n:,}" for n in r.get("funnel_steps") or []),
                              MET if r["steps_agree"] else NOT_MET))
    out.append(_linear(ordered))
    return out


def _linear(ordered: list[dict]) -> Target:
    name = (f"cost grows linearly from 1M to 50M events (seconds per million events at the "
            f"largest size ≤ {LINEAR_TOLERANCE}× those at the smallest: "
            f"{', '.join(LINEAR_STAGES)})")
    rows = {stage: ratio for stage, _, ratio in growth(ordered)}
    worst = [rows[s] for s in LINEAR_STAGES if rows.get(s) is not None]
    if len(ordered) < 2 or not worst:
        return Target(name, "–", "–", NOT_MEASURED, "needs two sizes")
    span = f"{ordered[0]['label']} → {ordered[-1]['label']}"
    value = times(max(worst))
    if ordered[0]["events"] > LINEAR_SMALLEST_MAX or ordered[-1]["events"] < LINEAR_LARGEST_MIN:
        return Target(name, span, value, NOT_MEASURED,
                      "needs a run of about 1M and one of 50M or more; the figure is the "
                      "sizes run so far")
    return Target(name, span, value, MET if max(worst) <= LINEAR_TOLERANCE else NOT_MET)


# -- the page -----------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right if right is not None else set(range(1, len(header)))
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return [f"| {' | '.join(header)} |", f"| {' | '.join(rule)} |",
            *(f"| {' | '.join(row)} |" for row in rows)]


def _machine_section(runs: list[dict]) -> list[str]:
    rows = []
    for r in runs:
        m, v = r.get("machine") or {}, r.get("versions") or {}
        load = ", ".join(f"{x:.2f}" for x in r.get("load_average") or [])
        rows.append([r["label"], r.get("date", "–"),
                     f"{m.get('cores', '?')} cores, {m.get('memory_bytes', 0) / GIB:,.0f} GiB, "
                     f"{m.get('cpu', '?')}",
                     *(v.get(k) or "–" for k in ("python", "duckdb", "dbt-core", "dlt", "chdb",
                                                 "commit")),
                     load or "–"])
    return ["## Machine and versions", "",
            *_table(["size", "date", "machine", "Python", "DuckDB", "dbt-core", "dlt", "chdb",
                     "commit", "load average (1, 5, 15 min) at the start"], rows,
                    right=set()), ""]


def _every_run(r: dict, key: str, inside: str | None = None) -> str:
    values = [(s.get(inside) or {}).get(key) if inside else s.get(key)
              for s in r.get("samples") or []]
    return ", ".join(_figure(v) for v in values if v is not None) or "–"


def _versus(value: float | None, reference: str) -> str:
    return "" if value is None else f"{times(value)} {reference}"


def _size_section(r: dict) -> list[str]:
    ratio = ratios(r)
    rate = r.get("events_per_second") or {}
    ingest = r.get("ingest_source_seconds") or {}
    peaks = r.get("ingest_source_peak_rss_bytes") or {}
    rows = [["generate", seconds(r.get("generate_seconds")), "(once)",
             mib(r.get("generate_peak_rss_bytes")), per_second(rate.get("generate")), ""]]
    if r.get("gzip_seconds") is not None:
        rows.append(["gzip the export files", seconds(r["gzip_seconds"]), "(once)", "–", "–",
                     "not part of any figure below"])
    for source, value in ingest.items():
        if source == "posthog-files":
            rows.append(["ingest: PostHog export files (dlt)", seconds(value),
                         _every_run(r, source, "ingest_source_seconds"), mib(peaks.get(source)),
                         per_second(rate.get("ingest")),
                         _versus(ratio["ingest_vs_floor"], "the floor")])
            rows.append(["floor: DuckDB read_json of the same files",
                         seconds(r.get("ingest_floor_seconds")),
                         _every_run(r, "ingest_floor_seconds"),
                         mib(r.get("ingest_floor_peak_rss_bytes")),
                         per_second(rate.get("ingest_floor")), ""])
        else:
            rows.append([f"ingest: {source}", seconds(value),
                         _every_run(r, source, "ingest_source_seconds"), mib(peaks.get(source)),
                         "", ""])
    every = ", ".join(_figure(sum(s["ingest_source_seconds"].values()))
                      for s in r.get("samples") or [] if s.get("ingest_source_seconds"))
    rows.append(["ingest: every source", seconds(r.get("ingest_all_sources_seconds")), every,
                 mib(r.get("ingest_peak_rss_bytes")), "", ""])
    build = " ".join(r.get("build_args") or []) or "(every model and test)"
    rows.append([f"dbt build {build}", seconds(r.get("build_seconds")),
                 _every_run(r, "build_seconds"), mib(r.get("peak_rss_bytes")),
                 per_second(rate.get("build")), ""])
    rows.append([f"{r.get('funnel', 'activation')} funnel: our models (their run time)",
                 seconds(r.get("funnel_seconds")), _every_run(r, "funnel_seconds"),
                 mib(r.get("funnel_peak_rss_bytes")), "",
                 _versus(ratio["funnel_vs_chdb"], "chdb")])
    rows.append(["… the same with dbt's start", seconds(r.get("funnel_wall_seconds")),
                 _every_run(r, "funnel_wall_seconds"), "", "", ""])
    rows.append(["chdb windowFunnel (the query, events loaded)",
                 seconds(r.get("chdb_window_funnel_seconds")),
                 _every_run(r, "chdb_window_funnel_seconds"), mib(r.get("chdb_peak_rss_bytes")),
                 "", r.get("chdb_skipped") or
                 f"loading {seconds(r.get('chdb_load_seconds'))}, exporting from the "
                 f"warehouse {seconds(r.get('chdb_export_seconds'))}"])
    export = f"{r.get('export_bytes', 0) / MIB:,.0f} MiB of {r.get('export_format', 'jsonl')}"
    lines = [f"## {r['label']} events", "",
             f"{r['events']:,} events ({r.get('users', 0):,} users; "
             f"{r.get('posthog_export_rows', 0):,} PostHog export rows in {export}, "
             f"{r.get('app_events', 0):,} app events); median of {r.get('runs_measured', 0)} "
             f"runs, peak RSS the largest of them; measured {r.get('date', '?')}.", "",
             *_table(["stage", "median", "every run (s)", "peak RSS", "events/s", "ratio"],
                     rows, right={1, 3, 4}), ""]
    if r.get("steps_agree") is not None:
        lines += [f"Per-step counts of the {r.get('funnel')} funnel: fct_funnel_steps "
                  f"{r.get('funnel_steps')}, chdb windowFunnel {r.get('chdb_steps')}: "
                  f"{'equal' if r['steps_agree'] else 'DIFFERENT'}.", ""]
    lines += [f"raw_posthog.events has {r.get('raw_posthog_rows', 0):,} rows and the floor's "
              f"table {r.get('floor_rows', 0):,}.", ""]
    return lines


def _growth_section(runs: list[dict]) -> list[str]:
    ordered = sorted(runs, key=lambda r: r["events"])
    rows = [[stage, *(f"{v:,.2f}" if v is not None else "–" for v in figures), times(ratio)]
            for stage, figures, ratio in growth(ordered)]
    span = (f"From {ordered[0]['label']} to {ordered[-1]['label']} events."
            if len(ordered) > 1 else "One size only so far: no growth to show.")
    return ["## Growth", "",
            "Seconds per million events at each size; the last column divides the largest "
            "size's figure by the smallest's (1.00× is exactly linear, below it the fixed "
            f"costs, such as dbt's start and its unit tests, are spread thinner). {span}", "",
            *_table(["stage", *(r["label"] for r in ordered), "largest ÷ smallest"], rows), ""]


def _targets_section(runs: list[dict]) -> list[str]:
    rows = [[t.target, t.size, t.measured, f"**{t.status}**", t.note] for t in targets(runs)]
    return ["## Targets (2-core machine)", "",
            *_table(["target", "size", "measured", "status", "note"], rows, right={2}), ""]


def _models_section(runs: list[dict]) -> list[str]:
    ordered = sorted(runs, key=lambda r: r["events"])
    groups: dict[str, str] = {}
    for r in ordered:
        groups.update(r.get("model_groups") or {})
    names = sorted({m for r in ordered for m in r.get("model_seconds") or {}},
                   key=lambda m: (groups.get(m, "~"), m))
    rows = [[groups.get(m, "–"), m,
             *(seconds((r.get("model_seconds") or {}).get(m)) for r in ordered)] for m in names]
    return ["## Every model in the full dbt build", "",
            "Median seconds per model (dbt's run_results.json), by folder under `models/`: the "
            "funnel marts are in `marts/funnels`, retention in `marts/retention`, the "
            "behaviour marts in `marts/behaviour`, `engagement`, `journeys`, `segments` and "
            "`metrics`.", "",
            *_table(["folder", "model", *(r["label"] for r in ordered)], rows,
                    right=set(range(2, 2 + len(ordered)))), ""]


def _history_section(history: list[dict]) -> list[str]:
    rows = [[r.get("date", "?"), r["label"], f"{r['events']:,}",
             seconds(r.get("ingest_seconds")), seconds(r.get("ingest_floor_seconds")),
             seconds(r.get("build_seconds")), mib(r.get("peak_rss_bytes")),
             seconds(r.get("funnel_seconds")), seconds(r.get("chdb_window_funnel_seconds")),
             (r.get("versions") or {}).get("commit") or "–"]
            for r in sorted(history, key=lambda r: (r.get("date", ""), r["events"]))]
    return ["## Earlier measurements", "",
            "Sizes measured again since: their earlier medians (`history` in the JSON).", "",
            *_table(["date", "size", "events", "ingest", "floor", "dbt build", "build peak RSS",
                     "funnel (ours)", "chdb", "commit"], rows,
                    right={2, 3, 4, 5, 6, 7, 8}), ""]


def suite_table(suite: str, records: list[dict]) -> list[str]:
    """One bench_marts suite: a row per record (its best run), then every model's time."""
    rows = []
    for r in records:
        best = min(r["runs"], key=lambda run: run["wall_s"])
        slowest = sorted(best["models_s"].items(), key=lambda kv: -kv[1])[:3]
        data = (f"{r['users']:,} users, {r['events']:,} events, {r['persons']:,} persons"
                + (f", {r['funnels']} funnels" if suite == "funnels" else ""))
        rows.append([
            r["date"], data,
            f"{best['wall_s']:,.1f} s wall ({sum(best['models_s'].values()):,.1f} s in "
            f"{len(best['models_s'])} models; runs: "
            f"{', '.join(format(run['wall_s'], ',.1f') for run in r['runs'])} s)",
            ", ".join(f"{name} {s:,.1f} s" for name, s in slowest),
            f"{best['peak_rss_mib'] or '?'} MiB",
            ", ".join(str(run["load_average_1m"]) for run in r["runs"]),
        ])
    lines = _table(["date", "data", f"{SUITE_TITLES.get(suite, suite)} (dbt run, best of runs)",
                    "slowest models", "dbt peak RSS", "load average"], rows, right=set())
    lines += ["", "Every model's time in each record's best run:", ""]
    for r in records:
        best = min(r["runs"], key=lambda run: run["wall_s"])
        lines.append(f"- {r['date']}, {r['users']:,} users: " + ", ".join(
            f"{name} {s:,.1f} s" for name, s in sorted(best["models_s"].items())))
    return lines


def render(results: dict) -> str:
    runs = sorted(results.get("runs") or [], key=lambda r: r["events"])
    lines = [
        "<!-- Generated from benchmarks.json by journeys/bench/report.py (`make bench`, "
        "scripts/bench_marts.py). Never edit by hand. -->", "",
        "# Benchmarks", "",
        "Generated by `make bench` (`journeys bench`) and `scripts/bench_marts.py` from "
        "[benchmarks.json](benchmarks.json) through `journeys/bench/report.py`; never edited "
        "by hand (run them again instead). The history of measurements and the notes on them "
        "are in [performance-notes.md](performance-notes.md).", "",
        "`journeys bench` generates the demo data once per size, then, in each run, from "
        "empty: ingests every source the demo ingests (each timed on its own), reads the same "
        "PostHog export files with DuckDB's `read_json` into a table (the floor: same types, "
        "same dedup on `uuid`, same rows), runs the full `dbt build`, and times the activation "
        "funnel's models alone (`models/intermediate/funnels`, `fct_funnel_persons`, "
        "`fct_funnel_steps`, with `--vars` holding only that funnel; their run time in dbt, "
        "not dbt's start) against ClickHouse's `windowFunnel` through chdb on the same events "
        "(every counted event of fct_events with its properties as JSON text, loaded into a "
        "sorted MergeTree table; windowFunnel picks the steps' events and reads their "
        "properties itself; the query's median, not the loading). Every step runs in "
        "a child process of its own; its peak RSS is that process tree's. Times are medians of "
        "the runs. Events per second count PostHog export rows for the ingest and the floor, "
        "and every generated event (export rows and app events) otherwise.", "",
    ]
    if runs:
        lines += _machine_section(runs)
        for r in runs:
            lines += _size_section(r)
        lines += _growth_section(runs)
    else:
        lines += ["No size measured yet: run `make bench`.", ""]
    lines += _targets_section(runs)
    if runs:
        lines += _models_section(runs)
    if results.get("history"):
        lines += _history_section(results["history"])
    for suite in ("funnels", "behaviour"):
        if not results.get(suite):
            continue
        heading, description = SUITE_HEADINGS[suite]
        lines += [f"## {heading}", "", description, "", *suite_table(suite, results[suite]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results))
