"""Lint is part of the test suite: ruff for Python, sqlfluff for the dbt SQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from journeys.paths import PROJECT_DIR

BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)


def test_ruff() -> None:
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sqlfluff() -> None:
    result = run(str(BIN / "sqlfluff"), "lint", "models", "macros", "tests/dbt", "analyses")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
