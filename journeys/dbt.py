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
from pathlib import Path

import duckdb

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
    data_dir: DataDir, command: str = "build", args: list[str] | None = None, quiet: bool = False
) -> DbtResult:
    """`dbt <command> <args>` against `data_dir`; dbt's own output streams through."""
    data_dir.ensure()
    if not data_dir.raw_db.exists():
        # the raw database is attached read-only; an empty one lets a warehouse build
        # before anything was ingested (every source is optional, marts come out empty)
        duckdb.connect(str(data_dir.raw_db)).close()
    env = {**os.environ, DATA_DIR_ENV: str(data_dir.root)}
    target = target_dir(data_dir)
    cmd = [
        dbt_executable(),
        command,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(data_dir.root / "dbt" / "logs"),
        *(["--quiet"] if quiet else []),
        *(args or []),
    ]
    completed = subprocess.run(cmd, env=env, cwd=PROJECT_DIR, check=False)
    return DbtResult(completed.returncode, _statuses(target / "run_results.json"))


def _statuses(path: Path) -> dict[str, Counter]:
    if not path.exists():
        return {}
    results = json.loads(path.read_text()).get("results", [])
    out: dict[str, Counter] = {}
    for result in results:
        kind = result["unique_id"].split(".", 1)[0]
        out.setdefault(kind, Counter())[result["status"]] += 1
    return out
