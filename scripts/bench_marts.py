"""Benchmark the analytic marts: build time on the demo and at 10M events.

    python scripts/bench_marts.py --suite funnels   --users 5000  --data-dir /tmp/bench-5k
    python scripts/bench_marts.py --suite behaviour --users 50000 --data-dir /tmp/bench-50k

Builds the warehouse with `journeys demo --users N` (generate, ingest all four sources
through the real pipelines, dbt build) unless the data dir already holds a demo of that
size, then runs the suite's models alone with `dbt run`, `--repeat` times, and records
the best and every run's per-model times (dbt's run_results.json), dbt's peak memory and
the machine's load average. Suites: `funnels` (the funnel engine, the funnel and
retention marts) and `behaviour` (segments, journeys, conversion drivers, triggers,
lifecycle, tracking loss, daily metrics).

The result is appended to docs/benchmarks.json (a list per suite), and docs/benchmarks.md
is rendered again from the whole file (`journeys.bench.report`, as `journeys bench` does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from journeys.bench import report
from journeys.dbt import run_dbt, target_dir
from journeys.paths import DataDir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks.json"
REPORT = ROOT / "docs" / "benchmarks.md"
# suite -> the models it times (dbt selectors); the report names them (report.SUITE_TITLES)
SUITES = {
    "funnels": ["path:models/intermediate/funnels", "path:models/marts/funnels",
                "path:models/marts/retention"],
    "behaviour": ["path:models/intermediate/drivers", "path:models/intermediate/journeys",
                  "path:models/marts/segments", "path:models/marts/behaviour",
                  "path:models/marts/journeys", "path:models/marts/engagement",
                  "path:models/marts/metrics", "fct_tracking_loss"],
}


def ensure_demo(data: DataDir, users: int) -> None:
    truth = data.generated / "truth.json"
    if truth.exists() and json.loads(truth.read_text())["users"] == users \
            and data.warehouse_db.exists():
        print(f"reusing the demo warehouse in {data.root}", flush=True)
        return
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "journeys.cli", "demo", "--users", str(users),
                    "--data-dir", str(data.root)], check=True)
    print(f"demo built in {time.perf_counter() - started:,.0f} s", flush=True)


def peak_rss_mib(log: Path) -> float | None:
    """dbt's own resource report for its last command in its log."""
    text = log.read_text(encoding="utf-8", errors="replace")
    peaks = re.findall(r'"process_mem_max_rss": "(\d+)"', text[text.rfind("running dbt"):])
    return round(int(peaks[-1]) / 1024) if peaks else None


def measure(data: DataDir, suite: str, repeat: int) -> list[dict]:
    runs = []
    for attempt in range(1, repeat + 1):
        load = os.getloadavg()[0]
        started = time.perf_counter()
        result = run_dbt(data, "run", ["--select", *SUITES[suite]], quiet=True)
        wall = time.perf_counter() - started
        if not result.ok:
            sys.exit(f"dbt run of the {suite} models failed; see the dbt log")
        models = {
            r["unique_id"].split(".", 2)[2]: round(r["execution_time"], 2)
            for r in json.loads((target_dir(data) / "run_results.json").read_text())["results"]
        }
        runs.append({"wall_s": round(wall, 1), "models_s": models,
                     "peak_rss_mib": peak_rss_mib(data.root / "dbt" / "logs" / "dbt.log"),
                     "load_average_1m": round(load, 2)})
        print(f"run {attempt}/{repeat}: {wall:,.1f} s wall, models "
              f"{sum(models.values()):,.1f} s, load {load:.2f}", flush=True)
    return runs


def describe(data: DataDir) -> dict:
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "events": one("select count(*) from marts.fct_events"),
            "persons": one("select count(*) from marts.dim_persons"),
            "funnels": one("select count(distinct funnel_name) from marts.fct_funnel_steps"),
            "funnel_persons": one("select count(*) from marts.fct_funnel_persons"),
            "retention_rows": one("select count(*) from marts.fct_cohort_retention"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="funnels")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = DataDir(args.data_dir.resolve()).ensure()
    ensure_demo(data, args.users)
    runs = measure(data, args.suite, args.repeat)
    record = {
        "benchmark": args.suite,
        "date": time.strftime("%Y-%m-%d"),
        "users": args.users,
        **describe(data),
        "runs": runs,
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}",
    }
    # docs/benchmarks.json: one list of records per benchmark, newest last
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    records = results.setdefault(args.suite, [])
    records.append(record)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, REPORT)
    print(report.suite_table(args.suite, [record])[2])


if __name__ == "__main__":
    main()
