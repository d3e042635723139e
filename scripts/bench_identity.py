"""Benchmark the identity graph and the core marts on a large warehouse.

    python scripts/bench_identity.py --users 100000 --data-dir /tmp/bench-identity

Generates the users (unless the data dir already holds a generation of that size),
ingests the PostHog exports and the app's tables, builds the identity model's inputs,
then times `dbt run` of the identity graph's models alone and prints a Markdown row for
docs/performance-notes.md (with the rounds each fixed-point search took and dbt's peak memory);
then runs everything downstream of it (unified stream, sessions, fct_events, dim_persons,
fct_sessions) and prints each model's time from dbt's run_results.json.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import duckdb

from journeys import generator
from journeys.dbt import run_dbt, target_dir
from journeys.ingest import run_source
from journeys.paths import DataDir

# the identity graph's models: links, nodes, nearest app users, persons
GRAPH = "models/intermediate/identity"


def last_run_facts(log: Path) -> tuple[dict[str, int], float]:
    """From dbt's log, for its last command: the rounds each fixed_point model took and
    dbt's peak resident memory in MiB (dbt's own resource report)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    last = text[text.rfind("running dbt with arguments"):]
    rounds = {name: int(n) for name, n in re.findall(
        r'"(int_identity__\w+)": fixed point after (\d+) round', last)}
    peak = re.findall(r'"process_mem_max_rss": "(\d+)"', last)
    return rounds, int(peak[-1]) / 1024 if peak else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    data = DataDir(args.data_dir.resolve()).ensure()
    truth_path = data.generated / "truth.json"
    if not truth_path.exists() or json.loads(truth_path.read_text())["users"] != args.users:
        started = time.perf_counter()
        generator.generate(data.generated, users=args.users)
        print(f"generated in {time.perf_counter() - started:,.0f} s", flush=True)
    if not data.raw_db.exists():
        for source in ("posthog-files", "app-files"):
            started = time.perf_counter()
            result = run_source(data, source)
            print(f"ingested {source}: {result.table_rows} in "
                  f"{time.perf_counter() - started:,.0f} s", flush=True)
    started = time.perf_counter()
    assert run_dbt(data, "run", ["--select", "+int_identity__nodes_resolved",
                                 "--exclude", f"path:{GRAPH}"], quiet=True).ok
    print(f"built the inputs in {time.perf_counter() - started:,.0f} s", flush=True)
    started = time.perf_counter()
    assert run_dbt(data, "run", ["--select", f"path:{GRAPH}"], quiet=True).ok
    seconds = time.perf_counter() - started
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        nodes, persons = con.execute(
            "select count(*), count(distinct person_id) "
            "from intermediate.int_identity__nodes_resolved").fetchone()
        events = con.execute("select count(*) from staging.stg_posthog__events").fetchone()[0]
        events += con.execute("select count(*) from staging.stg_app__events").fetchone()[0]
    rounds, peak_mib = last_run_facts(data.root / "dbt" / "logs" / "dbt.log")
    print(f"| {time.strftime('%Y-%m-%d')} | {args.users:,} users, {events:,} events | "
          f"{nodes:,} nodes → {persons:,} persons | {seconds:,.1f} s (dbt run of the identity "
          f"models, connection and compile included; rounds {rounds}; dbt peak RSS "
          f"{peak_mib:,.0f} MiB) |", flush=True)
    graph_results = json.loads((target_dir(data) / "run_results.json").read_text())["results"]
    for result in graph_results:
        print(f"  {result['unique_id'].split('.')[-1]}: {result['execution_time']:,.1f} s")
    started = time.perf_counter()
    assert run_dbt(data, "run", ["--select", "+fct_events", "+dim_persons", "+fct_sessions",
                                 "--exclude", "+int_identity__nodes_resolved"], quiet=True).ok
    print(f"built the core marts in {time.perf_counter() - started:,.0f} s", flush=True)
    results = json.loads((target_dir(data) / "run_results.json").read_text())["results"]
    for result in results:
        print(f"  {result['unique_id'].split('.')[-1]}: {result['execution_time']:,.1f} s")


if __name__ == "__main__":
    main()
