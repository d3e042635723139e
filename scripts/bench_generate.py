"""Benchmark `journeys generate`: wall time and peak memory of a large generation.

    python scripts/bench_generate.py --users 100000 [--format jsonl] [--out DIR]

Runs the generator in a child process (so the peak RSS is the generator's own, read from
the kernel's rusage after it exits) and prints one Markdown table row to paste into
docs/performance-notes.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--format", default="jsonl", choices=("jsonl", "parquet"))
    parser.add_argument("--out", type=Path, default=None, help="kept if given, else a temp dir")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    command = [
        sys.executable,
        "-m",
        "journeys.cli",
        "generate",
        "--users",
        str(args.users),
        "--seed",
        str(args.seed),
        "--format",
        args.format,
        "--out",
        str(out),
        "--quiet",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    truth = json.loads((out / "truth.json").read_text())
    events = truth["rows"]["posthog_export_rows"] + truth["rows"]["app_events"]
    size_gib = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**30
    print(
        f"| {time.strftime('%Y-%m-%d')} | {args.users:,} users, {args.format} | "
        f"{events:,} events | {seconds:,.0f} s | {events / seconds:,.0f} events/s | "
        f"{peak_mib:,.0f} MiB peak RSS | {size_gib:.1f} GiB on disk | "
        f"{os.cpu_count()} cores, Python {platform.python_version()} |"
    )
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
