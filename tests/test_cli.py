"""The `journeys` command as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

COMMANDS = ["generate", "ingest", "build", "demo"]


def journeys(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "journeys.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command: str | None) -> None:
    result = journeys(*([command] if command else []), "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    if command:
        assert "--data-dir" in result.stdout
        assert "JOURNEYS_DATA_DIR" in result.stdout


def test_demo_runs_end_to_end_and_prints_a_summary(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    result = journeys("demo", "--users", "150", "--seed", "3", env={"JOURNEYS_DATA_DIR": str(data)})
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stderr
    assert "0 failed" in out
    assert "rows/s" not in out  # progress only on a terminal
    assert str(data / "warehouse.duckdb") in out
    assert "select first_touch_source, trial_outcome" in out
    truth = json.loads((data / "generated" / "truth.json").read_text())
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        persons, users = con.execute(
            "select count(*), count(app_user_id) from marts.dim_persons").fetchone()
    assert users == truth["users"] == 150
    # every human the generator made is one person: app users, anonymous visitors and
    # CRM-only leads, across PostHog, the app's Postgres, HubSpot and Intercom
    assert persons == truth["humans"]["total"]
    assert f"persons: {persons:,}" in out
    with duckdb.connect(str(data / "raw.duckdb"), read_only=True) as con:
        crm = con.execute("select count(*) from raw_hubspot.contacts").fetchone()[0]
    assert crm == truth["rows"]["hubspot_contacts"]
    # a second, smaller demo in the same folder starts clean: no rows of the first remain
    again = journeys("demo", "--users", "60", env={"JOURNEYS_DATA_DIR": str(data)})
    assert again.returncode == 0, again.stderr[-3000:]
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(app_user_id) from marts.dim_persons").fetchone()[0] == 60


def test_demo_refuses_a_warehouse_it_did_not_make(tmp_path: Path, generated) -> None:
    folder, _ = generated
    data = tmp_path / "real"
    ingest = journeys("ingest", "--data-dir", str(data), "--source", "app-files",
                      "--path", str(folder / "app"))
    assert ingest.returncode == 0, ingest.stderr
    result = journeys("demo", "--data-dir", str(data))
    assert result.returncode == 2
    assert "did not create" in result.stderr
    assert (data / "raw.duckdb").exists()


def test_ingest_any_folder_of_exports(tmp_path: Path, generated) -> None:
    folder, truth = generated
    result = journeys(
        "ingest",
        "--data-dir",
        str(tmp_path / "d"),
        "--source",
        "posthog-files",
        "--path",
        str(folder / "posthog" / "events"),
    )
    assert result.returncode == 0, result.stderr
    assert f"{truth['rows']['posthog_unique_events']:,}" in result.stderr
    # stderr is a pipe here, not a terminal: the summary, and no live progress line
    assert "rows/s" not in result.stderr + result.stdout
    assert "\x1b[" not in result.stderr


def test_ingest_shows_progress_per_source_on_a_terminal(tmp_path: Path) -> None:
    """TTY_COMPATIBLE / TTY_INTERACTIVE are rich's switches for "this is a terminal":
    the same process as on a user's terminal, its output captured."""
    folder = tmp_path / "exports"
    folder.mkdir()
    row = {"event": "$pageview", "distinct_id": "d", "timestamp": "2026-05-01T12:00:00Z"}
    lines = [json.dumps({**row, "uuid": f"u{n}"}) for n in range(12)]
    lines.append(json.dumps({**row, "uuid": ""}))  # rejected: no uuid
    (folder / "w.jsonl").write_text("\n".join(lines) + "\n")
    result = journeys("ingest", "--data-dir", str(tmp_path / "d"), "--source", "posthog-files",
                      "--path", str(folder), env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"})
    assert result.returncode == 0, result.stderr
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr).replace("\r", "\n")
    assert re.search(r"posthog-files 12 rows read · [\d,]+ rows/s · 1 rejected · done", text), text


def test_clear_errors_and_exit_codes(tmp_path: Path) -> None:
    empty = journeys("ingest", "--data-dir", str(tmp_path / "nothing"))
    assert empty.returncode == 2
    assert "Run `journeys generate` first" in empty.stderr
    path_alone = journeys("ingest", "--data-dir", str(tmp_path), "--path", "/tmp")
    assert path_alone.returncode == 2 and "--path needs --source" in path_alone.stderr
    missing = journeys(
        "ingest",
        "--data-dir",
        str(tmp_path),
        "--source",
        "posthog-files",
        "--path",
        str(tmp_path / "nope"),
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    zero = journeys("generate", "--users", "0", "--out", str(tmp_path / "g"))
    assert zero.returncode == 2
    bad_dbt = journeys("build", "--data-dir", str(tmp_path / "b"), "--", "--no-such-flag")
    assert bad_dbt.returncode != 0 and "dbt build failed" in bad_dbt.stderr
