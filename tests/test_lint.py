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


def test_package_metadata_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    """pyproject.toml uses the current forms (an SPDX `license` string, not the table
    that setuptools deprecates), so `pip install` prints no deprecation warning."""
    script = (
        "import sys, warnings\n"
        "from setuptools import build_meta\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    build_meta.prepare_metadata_for_build_wheel(sys.argv[1])\n"
        "bad = [w for w in caught if issubclass(w.category, (DeprecationWarning,))\n"
        "       or 'Deprecat' in w.category.__name__]\n"
        "print('WARNINGS:', [f'{w.category.__name__}: {str(w.message)[:200]}' for w in bad])\n"
    )
    result = run(sys.executable, "-c", script, str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "WARNINGS: []" in result.stdout.splitlines(), result.stdout[-3000:]
    metadata = next(tmp_path.glob("*.dist-info")) / "METADATA"
    assert "License-Expression: Apache-2.0" in metadata.read_text()
