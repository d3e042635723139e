"""Two processes on one data dir (issue 21, items 8-9): real `journeys` processes, real
DuckDB sessions held open by other processes, real dlt loads and dbt builds.

- A second writer (`journeys ingest`, `build` or `demo`) on a data dir another `journeys`
  command is writing is refused at once, with the holder's pid and command line; a holder
  killed with SIGKILL leaves nothing that blocks the next run.
- A process that is not journeys holding raw.duckdb or warehouse.duckdb (an analyst's
  notebook or DuckDB CLI) is named, with its command line and what to do, instead of
  dlt's advice about credentials and the internet or DuckDB's raw "Could not set lock".
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from journeys.dbt import run_dbt
from journeys.ingest import SOURCES, pipeline_for, run_source
from journeys.locks import EXIT_BUSY, DatabaseBusy, DataDirBusy, busy_from, data_dir_lock
from journeys.paths import DataDir

# A refusal is a python start-up and an import of journeys (about 2 s here, more on a busy
# machine); the holders below would keep the command waiting for ever.
AT_ONCE = 20.0

# Hand-written PostHog export lines: three events in one file, two in a second file.
FIRST_FILE = [
    {"uuid": "e-1", "event": "$pageview", "distinct_id": "anon-1",
     "timestamp": "2026-03-02T09:00:00Z"},
    {"uuid": "e-2", "event": "$pageview", "distinct_id": "anon-1",
     "timestamp": "2026-03-02T09:01:00Z"},
    {"uuid": "e-3", "event": "signed_up", "distinct_id": "user-1",
     "timestamp": "2026-03-02T09:02:00Z"},
]
SECOND_FILE = [
    {"uuid": "e-4", "event": "$pageview", "distinct_id": "anon-2",
     "timestamp": "2026-03-03T10:00:00Z"},
    {"uuid": "e-5", "event": "$pageview", "distinct_id": "anon-2",
     "timestamp": "2026-03-03T10:05:00Z"},
]


def write_export(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def journeys(*args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """`journeys <args>` as a user runs it, and how long it took."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "journeys.cli", *args], capture_output=True,
                            text=True, env={**os.environ, **(env or {})}, check=False,
                            timeout=300)
    return result, time.perf_counter() - started


def hold(code: str, *argv: str) -> subprocess.Popen:
    """A python process running `code`, once it has printed `ready`."""
    holder = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "ready", "the holder did not start"
    return holder


def kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL: the process gets no chance to tidy up (no finally, no atexit)."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


# An analyst's session on a DuckDB file: `read_only=True`, as a notebook opens the warehouse
ANALYST = """\
import sys, time, duckdb
# analyst-notebook
con = duckdb.connect(sys.argv[1], read_only=True)
print("ready", flush=True)
time.sleep(600)
"""


def events_in_raw(data: DataDir) -> list[str]:
    with duckdb.connect(str(data.raw_db), read_only=True) as con:
        return [r[0] for r in con.execute(
            "select uuid from raw_posthog.events order by uuid").fetchall()]


@pytest.fixture
def silent_api() -> Iterator[tuple[str, threading.Event]]:
    """An HTTP server that accepts connections and never answers: an API so slow that
    an ingest reading it stays in its extract step. Its URL, and an event set once a
    request arrived (the ingest is past its start, holding the data dir)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    asked = threading.Event()
    connections: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            connections.append(connection)
            asked.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", asked
    finally:
        server.close()
        for connection in connections:
            connection.close()


# -- item 8: a second `journeys ingest` on the same data dir ----------------------------


def test_a_second_writer_is_refused_at_once_and_a_killed_one_blocks_nothing(
    tmp_path: Path, silent_api: tuple[str, threading.Event]
) -> None:
    url, asked = silent_api
    data = DataDir(tmp_path / "data")
    exports = tmp_path / "exports"
    write_export(exports, "2026-03-02.jsonl", FIRST_FILE)
    first, _ = journeys("ingest", "--data-dir", str(data.root), "--source", "posthog-files",
                        "--path", str(exports))
    assert first.returncode == 0, first.stderr
    assert events_in_raw(data) == ["e-1", "e-2", "e-3"]

    # a real `journeys ingest` of HubSpot, stuck in its extract on an API that never answers
    env = {"SOURCES__HUBSPOT__BASE_URL": url, "SOURCES__HUBSPOT__ACCESS_TOKEN": "pat-test"}
    slow = subprocess.Popen([sys.executable, "-m", "journeys.cli", "ingest", "--data-dir",
                             str(data.root), "--source", "hubspot"],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert asked.wait(60), "the HubSpot ingest never reached the API"
        write_export(exports, "2026-03-03.jsonl", SECOND_FILE)
        second, seconds = journeys("ingest", "--data-dir", str(data.root), "--source",
                                   "posthog-files", "--path", str(exports))
        assert second.returncode == EXIT_BUSY, second.stderr
        assert seconds < AT_ONCE
        message = " ".join(second.stderr.split())
        assert f"another `journeys ingest` (pid {slow.pid}, started " in message
        assert "`journeys ingest --data-dir" in message and "--source hubspot`" in message
        assert "wait for it to finish or stop it" in message
        assert "credentials" not in message and "internet" not in message
        # a build or a demo would fail on raw's lock later: refused at once as well
        build, seconds = journeys("build", "--data-dir", str(data.root))
        assert build.returncode == EXIT_BUSY and seconds < AT_ONCE, build.stderr
        assert f"(pid {slow.pid}," in " ".join(build.stderr.split())
        demo, _ = journeys("demo", "--data-dir", str(data.root), "--users", "5")
        assert demo.returncode == EXIT_BUSY, demo.stderr  # before it empties anything
        assert events_in_raw(data) == ["e-1", "e-2", "e-3"]
    finally:
        kill_hard(slow)

    # SIGKILL: the lock file still names the dead run, and blocks nothing
    left = json.loads((data.root / ".journeys.lock").read_text())
    assert left["pid"] == slow.pid
    again, _ = journeys("ingest", "--data-dir", str(data.root), "--source", "posthog-files",
                        "--path", str(exports))
    assert again.returncode == 0, again.stderr
    # the first file is not loaded twice, the second lands once
    assert events_in_raw(data) == ["e-1", "e-2", "e-3", "e-4", "e-5"]


def test_the_lock_is_the_processes_and_reentrant_within_one(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    taker = ("import sys; from pathlib import Path; from journeys.locks import DataDirBusy, "
             "data_dir_lock; from journeys.paths import DataDir\n"
             "try:\n"
             "    with data_dir_lock(DataDir(Path(sys.argv[1])), 'build'): print('took')\n"
             "except DataDirBusy as error: print(error)\n")

    def other_process_tries() -> str:
        return subprocess.run([sys.executable, "-c", taker, str(data.root)], text=True,
                              capture_output=True, check=True).stdout

    with data_dir_lock(data, "demo") as outer:
        with data_dir_lock(data, "ingest") as inner:  # the demo's own ingest: no refusal
            assert outer == inner == "demo"
        refused = " ".join(other_process_tries().split())
        assert refused.startswith(f"another `journeys demo` (pid {os.getpid()}, started ")
        assert "is running the demo in" in refused
    assert other_process_tries().strip() == "took"


def test_a_library_run_is_refused_too(tmp_path: Path) -> None:
    """run_source and run_dbt (what scripts and `journeys refresh` call) take the lock."""
    data = DataDir(tmp_path / "data")
    holder = hold("import sys, time; from pathlib import Path; "
                  "from journeys.locks import data_dir_lock; from journeys.paths import DataDir\n"
                  "with data_dir_lock(DataDir(Path(sys.argv[1])), 'ingest'):\n"
                  "    print('ready', flush=True); time.sleep(600)\n", str(data.root))
    try:
        exports = tmp_path / "exports"
        write_export(exports, "a.jsonl", FIRST_FILE)
        with pytest.raises(DataDirBusy, match=f"pid {holder.pid}"):
            run_source(data, "posthog-files", str(exports))
        with pytest.raises(DataDirBusy, match=f"pid {holder.pid}"):
            run_dbt(data, "build", quiet=True)
    finally:
        kill_hard(holder)
    assert not (data.pipelines / "journeys_posthog_files").exists()  # nothing extracted


# -- item 8: another process (not journeys) holding raw.duckdb --------------------------


def test_ingest_names_a_session_holding_raw_before_extracting(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    exports = tmp_path / "exports"
    write_export(exports, "2026-03-02.jsonl", FIRST_FILE)
    duckdb.connect(str(data.raw_db)).close()  # a raw database an analyst has open
    analyst = hold(ANALYST, str(data.raw_db))
    try:
        result, seconds = journeys("ingest", "--data-dir", str(data.root), "--source",
                                   "posthog-files", "--path", str(exports))
        assert result.returncode == EXIT_BUSY, result.stderr
        assert seconds < AT_ONCE
        message = " ".join(result.stderr.split())
        assert f"{data.raw_db} is open in another process: pid {analyst.pid}" in message
        assert "analyst-notebook" in message  # its command line, from /proc
        assert "Close that session" in message and f"kill {analyst.pid}" in message
        assert "credentials" not in message and "internet" not in message
        # refused before the extract: the pipeline was never even created
        assert not (data.pipelines / "journeys_posthog_files").exists()
    finally:
        kill_hard(analyst)
    again, _ = journeys("ingest", "--data-dir", str(data.root), "--source", "posthog-files",
                        "--path", str(exports))
    assert again.returncode == 0, again.stderr
    assert events_in_raw(data) == ["e-1", "e-2", "e-3"]


def test_a_lock_met_at_load_is_named_not_blamed_on_credentials(tmp_path: Path) -> None:
    """The session may open raw after the start-up probe: dlt's load step then fails with
    its advice about credentials and the internet around DuckDB's error."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    data = DataDir(tmp_path / "data").ensure()
    exports = tmp_path / "exports"
    write_export(exports, "a.jsonl", FIRST_FILE)
    duckdb.connect(str(data.raw_db)).close()
    analyst = hold(ANALYST, str(data.raw_db))
    spec = SOURCES["posthog-files"]
    try:
        with pytest.raises(PipelineStepFailed) as failed:
            pipeline_for(data, spec).run(spec.build(str(exports)))
        busy = busy_from(failed.value, "ingest")  # while the analyst's process is alive
    finally:
        kill_hard(analyst)
    assert "credentials" in str(failed.value)  # dlt's own text, misleading here
    assert isinstance(busy, DatabaseBusy)
    assert f"pid {analyst.pid} (`" in str(busy) and "analyst-notebook" in str(busy)
    assert "credentials" not in str(busy)


# -- item 9: `journeys build` while an analyst has the warehouse open -------------------


def build_stg_events(data: DataDir) -> list[str]:
    return ["build", "--data-dir", str(data.root), "--", "--select", "stg_posthog__events"]


def test_build_names_a_reader_holding_the_warehouse(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    exports = tmp_path / "exports"
    write_export(exports, "2026-03-02.jsonl", FIRST_FILE)
    run_source(data, "posthog-files", str(exports))
    duckdb.connect(str(data.warehouse_db)).close()  # yesterday's warehouse
    analyst = hold(ANALYST, str(data.warehouse_db))
    try:
        result, seconds = journeys(*build_stg_events(data))
        assert result.returncode == EXIT_BUSY, result.stderr
        assert seconds < AT_ONCE
        message = " ".join(result.stderr.split())
        assert f"{data.warehouse_db} is open in another process: pid {analyst.pid}" in message
        assert "analyst-notebook" in message
        assert "Close that session" in message and "open a copy" in message
        assert "Could not set lock" not in result.stderr  # DuckDB's raw error, not shown
        assert not (data.root / "dbt" / "logs").exists()  # dbt never started

        # a reader that opened the warehouse after the probe: dbt meets DuckDB's lock and
        # run_dbt names the process instead of returning a bare failure
        with pytest.raises(DatabaseBusy) as busy:
            run_dbt(data, "build", ["--select", "stg_posthog__events"], quiet=True,
                    probe=False)
        during = str(busy.value)
        assert f"{data.warehouse_db} is open in another process: pid {analyst.pid}" in during
        assert "analyst-notebook" in during
    finally:
        kill_hard(analyst)

    again, _ = journeys(*build_stg_events(data))
    assert again.returncode == 0, again.stderr[-3000:]
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        built = con.execute("select event_id from staging.stg_posthog__events order by 1")
        assert [r[0] for r in built.fetchall()] == ["e-1", "e-2", "e-3"]


def test_a_failed_build_does_not_report_the_last_ones_results(tmp_path: Path) -> None:
    """dbt leaves run_results.json alone when it stops before running anything (a locked
    warehouse): run_dbt must not count the previous build's results as this one's."""
    data = DataDir(tmp_path / "data").ensure()
    target = data.root / "dbt" / "target"
    target.mkdir(parents=True)
    (target / "run_results.json").write_text(json.dumps(
        {"results": [{"unique_id": "model.journeys.stg_posthog__events", "status": "success"}]}))
    result = run_dbt(data, "build", ["--no-such-flag"], quiet=True)
    assert not result.ok
    assert result.statuses == {}
