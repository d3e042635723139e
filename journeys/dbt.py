"""Runs `dbt build` (or another dbt command) on this project against one data directory.

dbt runs as a child process with the project's own profiles.yml; its target and log
folders live in the data directory, so warehouses built side by side never share them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import duckdb

from journeys.locks import data_dir_lock, database_busy, probe_duckdb
from journeys.paths import DATA_DIR_ENV, PROJECT_DIR, DataDir


class DbtError(RuntimeError):
    """dbt failed or could not start."""


@dataclass
class DbtResult:
    returncode: int
    statuses: dict[str, Counter] = field(default_factory=dict)  # resource type -> status counts

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def count(self, resource_type: str, status: str) -> int:
        return self.statuses.get(resource_type, Counter()).get(status, 0)


def dbt_executable() -> str:
    beside = Path(sys.executable).parent / "dbt"
    found = str(beside) if beside.exists() else shutil.which("dbt")
    if not found:
        raise DbtError("dbt is not installed in this environment; run `make install`.")
    return found


def target_dir(data_dir: DataDir) -> Path:
    return data_dir.root / "dbt" / "target"


def run_dbt(
    data_dir: DataDir, command: str = "build", args: list[str] | None = None, quiet: bool = False,
    probe: bool = True,
) -> DbtResult:
    """`dbt <command> <args>` against `data_dir`; dbt's own output streams through.

    Holds the data dir's writer lock (`journeys.locks`) while dbt runs. Raises
    `journeys.locks.Busy` before dbt starts while another `journeys` command writes the
    data dir, or (`probe`) while another process has warehouse.duckdb open or raw.duckdb
    open for writing; and after dbt failed, when it failed on such a lock."""
    data_dir.ensure()
    with data_dir_lock(data_dir, "build") as holder:
        if not data_dir.raw_db.exists():
            # the raw database is attached read-only; an empty one lets a warehouse build
            # before anything was ingested (every source is optional, marts come out empty)
            duckdb.connect(str(data_dir.raw_db)).close()
        if probe and _on_duckdb(args or []):
            probe_duckdb_files(data_dir, holder)
        return _run(data_dir, command, args or [], quiet, holder)


def probe_duckdb_files(data_dir: DataDir, holder: str) -> None:
    """Name the process that would stop dbt: one holding warehouse.duckdb at all (dbt
    writes it), or raw.duckdb for writing (dbt attaches it read-only). Issue 18's safe
    publication (build a new file, rename it into place) drops the warehouse probe."""
    probe_duckdb(data_dir.warehouse_db, holder, write=True)
    probe_duckdb(data_dir.raw_db, holder, write=False)


def _on_duckdb(args: list[str]) -> bool:
    """Whether dbt runs on the DuckDB output of profiles.yml (the data dir's files)."""
    target = os.environ.get("JOURNEYS_TARGET", "duckdb")
    for flag, value in pairwise([*args, ""]):
        if flag in ("--target", "-t"):
            target = value
        elif flag.startswith("--target="):
            target = flag.split("=", 1)[1]
    return target == "duckdb"


THREADS_ENV = "JOURNEYS_DUCKDB_THREADS"
MEMORY_ENV = "JOURNEYS_DUCKDB_MEMORY_LIMIT"
MEMORY_SHARE = 4  # DuckDB gets a quarter of the machine's memory unless told otherwise


def machine_settings() -> dict[str, str]:
    """DuckDB's threads and memory limit for this machine (profiles.yml reads them):
    one thread per core, a quarter of the memory (6 GB on 24 GiB: the build then peaks
    well under 8 GiB, spilling joins and sorts to disk past the limit). Either is
    overridden by setting its variable."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    machine = {THREADS_ENV: str(os.cpu_count() or 1),
               MEMORY_ENV: f"{max(1, memory // MEMORY_SHARE // 10**9)}GB"}
    return {name: os.environ.get(name, value) for name, value in machine.items()}


def _run(data_dir: DataDir, command: str, args: list[str], quiet: bool,
         holder: str) -> DbtResult:
    env = {**os.environ, **machine_settings(), DATA_DIR_ENV: str(data_dir.root)}
    target = target_dir(data_dir)
    log = data_dir.root / "dbt" / "logs" / "dbt.log"
    cmd = [
        dbt_executable(),
        *command.split(),  # "build", or a subcommand such as "docs generate"
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(log.parent),
        *(["--quiet"] if quiet else []),
        *args,
    ]
    # dbt leaves the last run's results in place when it fails before running anything
    # (a locked file): never report those as this run's
    (target / "run_results.json").unlink(missing_ok=True)
    log_start = log.stat().st_size if log.exists() else 0
    completed = subprocess.run(cmd, env=env, cwd=PROJECT_DIR, check=False)
    if completed.returncode != 0:
        # a DuckDB file opened by another process while dbt ran: its error is in the
        # output above, among dbt's traceback; say it plainly
        busy = database_busy(_log_since(log, log_start), holder)
        if busy:
            raise busy
    return DbtResult(completed.returncode, _statuses(target / "run_results.json"))


def _log_since(log: Path, start: int) -> str:
    """What dbt wrote to its log file from byte `start` (all of it, if dbt rotated it)."""
    if not log.exists():
        return ""
    with log.open("rb") as handle:
        handle.seek(start if log.stat().st_size >= start else 0)
        return handle.read().decode(errors="replace")


def _statuses(path: Path) -> dict[str, Counter]:
    if not path.exists():
        return {}
    results = json.loads(path.read_text()).get("results", [])
    out: dict[str, Counter] = {}
    for result in results:
        kind = result["unique_id"].split(".", 1)[0]
        out.setdefault(kind, Counter())[result["status"]] += 1
    return out
