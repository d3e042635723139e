"""The marts are a published interface: a breaking change needs a new version.

Every mart is public, contracted and versioned (CHANGELOG.md). `state/manifest.json` is
the manifest of the last release. dbt's state comparison (`--state`, the
`state:modified.contract` selector) compares each contracted model with its released
self and raises dbt's breaking-change error when a released version lost a column,
changed a column's type or dropped a constraint. A change like that belongs in a new
version (`versions:` in the model's yml) with the old one kept until its deprecation date.

    journeys contracts            the check (`make test` runs it, tests/test_versions.py)
    journeys contracts --release  the release step: the current manifest becomes the
                                  released one (see CHANGELOG.md, "Releasing")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from journeys.dbt import dbt_executable
from journeys.paths import DATA_DIR_ENV, PROJECT_DIR

STATE_DIR = "state"
# the released manifest is parsed for the DuckDB target: contracts name each engine's
# own types (profiles.yml), and this is the one the check compares on
STATE_TARGET = "duckdb"


@dataclass
class ContractCheck:
    ok: bool
    output: str  # what dbt printed (its breaking-change error names model and columns)


def _dbt(project_dir: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, DATA_DIR_ENV: str(work), "JOURNEYS_TARGET": STATE_TARGET}
    command = [
        dbt_executable(), *args,
        "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
        "--target", STATE_TARGET,
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
    ]
    return subprocess.run(command, env=env, cwd=project_dir, capture_output=True, text=True,
                          check=False)


def check(project_dir: Path = PROJECT_DIR) -> ContractCheck:
    """Compare the project's contracts with the released manifest. Fails on dbt's
    breaking-change error (a versioned model) and on its warning for an unversioned
    contracted model, made an error here."""
    state = project_dir / STATE_DIR
    if not (state / "manifest.json").exists():
        return ContractCheck(False, f"no released manifest at {state / 'manifest.json'}; "
                                    "run `journeys contracts --release` once")
    with tempfile.TemporaryDirectory(prefix="journeys-contracts-") as work:
        result = _dbt(
            project_dir, Path(work), "ls", "--resource-type", "model",
            "--select", "state:modified.contract", "--state", str(state),
            "--warn-error-options", '{"error": ["UnversionedBreakingChange"]}',
        )
    return ContractCheck(result.returncode == 0, result.stdout + result.stderr)


def release(project_dir: Path = PROJECT_DIR) -> Path:
    """Write the current project's manifest as the released one and return its path."""
    with tempfile.TemporaryDirectory(prefix="journeys-release-") as work:
        result = _dbt(project_dir, Path(work), "parse", "--no-partial-parse")
        if result.returncode != 0:
            raise RuntimeError("dbt parse failed:\n" + result.stdout[-4000:] + result.stderr)
        released = project_dir / STATE_DIR / "manifest.json"
        released.parent.mkdir(exist_ok=True)
        shutil.copyfile(Path(work) / "target" / "manifest.json", released)
    return released
