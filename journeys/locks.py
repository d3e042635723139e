"""Two processes on one data directory: who may write it, and who holds a DuckDB file.

- **One writer per data dir.** `journeys ingest`, `build` and `demo` (and the library
  functions they call: `run_source`, `run_dbt`) hold `<data-dir>/.journeys.lock`, an OS
  advisory lock (`fcntl.flock`). A second writer is refused at once, before any extract,
  with the holder's pid, command line and start time (written into the file). The kernel
  drops the lock when its process ends, however it ends, so a killed run never leaves a
  stale lock behind. The lock is re-entrant within a process: `journeys demo` holds it and
  the `run_source` / `run_dbt` calls inside it take it again for free.
- **DuckDB lets one process write a file, or several read it, never both.** A process that
  is not journeys (an analyst's notebook or DuckDB CLI) can hold `raw.duckdb` or
  `warehouse.duckdb`. `probe_duckdb` opens the file the way the next step will, closes it
  at once, and turns DuckDB's "Could not set lock ... (PID n)" into a message naming that
  process and what to do; `database_busy` does the same for the error text when it comes
  up later (from dlt's load step or from dbt).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from journeys.paths import DataDir

try:
    import fcntl
except ImportError:  # Windows: no flock; the DuckDB probes still name a holder
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".journeys.lock"
EXIT_BUSY = 75  # sysexits' EX_TEMPFAIL: nothing is wrong with the data; run again later

DOING = {"ingest": "loading", "build": "building", "demo": "running the demo in"}

# DuckDB: Could not set lock on file "<path>": Conflicting lock is held in <exe> (PID <n>)
DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in '
    r"(?P<exe>.*?) \(PID (?P<pid>\d+)\)")


class Busy(RuntimeError):
    """Another process holds the data dir or one of its DuckDB files; the message names it
    and says what to do. Nothing was written."""


class DataDirBusy(Busy):
    """Another `journeys` writer holds this data directory."""


class DatabaseBusy(Busy):
    """Another process has a DuckDB file of this data directory open."""


@dataclass(frozen=True)
class Holder:
    """The process holding a data dir's lock, as it wrote itself into the lock file."""

    pid: int
    command: str  # ingest, build, demo
    command_line: str
    started_at: dt.datetime

    @classmethod
    def me(cls, command: str) -> Holder:
        return cls(os.getpid(), command, own_command_line(),
                   dt.datetime.now().astimezone().replace(microsecond=0))

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "command": self.command,
                           "command_line": self.command_line,
                           "started_at": self.started_at.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["command"]), str(data["command_line"]),
                       dt.datetime.fromisoformat(data["started_at"]))
        except (ValueError, KeyError, TypeError):
            return None  # not written yet (the holder is between lock and write), or foreign

    def describe(self) -> str:
        started = self.started_at.astimezone()
        today = dt.datetime.now().astimezone().date()
        when = started.strftime("%H:%M:%S" if started.date() == today else "%Y-%m-%d %H:%M:%S")
        gone = "" if pid_alive(self.pid) else "; it has exited, a process it started still runs"
        return (f"another `journeys {self.command}` (pid {self.pid}, started {when}, "
                f"`{self.command_line}`{gone})")


def lock_path(data_dir: DataDir) -> Path:
    return data_dir.root / LOCK_FILE


def own_command_line() -> str:
    """This process's command line as the user typed it: `journeys ingest --source x`
    whether it runs as the `journeys` script or as `python -m journeys.cli`."""
    script = Path(sys.argv[0])
    if script.name == "journeys" or script.parts[-2:] == ("journeys", "cli.py"):
        return shlex.join(["journeys", *sys.argv[1:]])
    return shlex.join(getattr(sys, "orig_argv", sys.argv))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def command_line_of(pid: int, fallback: str = "") -> str:
    """Another process's command line (from /proc, where there is one), else `fallback`."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return fallback
    parts = [p.decode(errors="replace") for p in raw.split(b"\0") if p]
    return shlex.join(parts) if parts else fallback


# -- one writer per data dir -------------------------------------------------------------

_held: dict[Path, tuple[int, int, str]] = {}  # lock file -> (descriptor, depth, command)
_held_guard = threading.Lock()


@contextmanager
def data_dir_lock(data_dir: DataDir, command: str) -> Iterator[str]:
    """Hold `data_dir`'s writer lock for `command` (ingest, build, demo), or raise
    DataDirBusy at once naming the process that holds it. Re-entrant within a process;
    yields the command that holds it (the outermost: `demo` around its ingest and build)."""
    path = lock_path(data_dir.ensure())
    with _held_guard:
        fd, depth, holder = _held.get(path) or (_acquire(path, command, data_dir), 0, command)
        _held[path] = (fd, depth + 1, holder)
    try:
        yield holder
    finally:
        with _held_guard:
            fd, depth, holder = _held.pop(path)
            if depth > 1:
                _held[path] = (fd, depth - 1, holder)
            else:
                _release(fd)


def _acquire(path: Path, command: str, data_dir: DataDir) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusy(_refusal(path, command, data_dir)) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, (Holder.me(command).to_json() + "\n").encode(), 0)
    return fd


def _release(fd: int) -> None:
    os.ftruncate(fd, 0)  # the next reader sees no holder, even before it locks
    os.close(fd)  # closing drops the flock


def _refusal(path: Path, command: str, data_dir: DataDir) -> str:
    try:
        holder = Holder.from_json(path.read_text())
    except OSError:
        holder = None
    who = holder.describe() if holder else "another `journeys` command (it is just starting)"
    doing = DOING.get(holder.command if holder else "", "writing")
    stop = f" (`kill {holder.pid}`)" if holder else ""
    return (f"{who} is {doing} {data_dir.root}; wait for it to finish or stop it{stop}, "
            f"then run `journeys {command}` again. Only one `journeys` command writes a data "
            f"dir at a time (lock: {path}); a killed run never keeps it.")


# -- DuckDB files other processes hold ---------------------------------------------------

ADVICE = {
    "raw.duckdb": "a read-only session on raw (`duckdb -readonly`) lets builds run but "
                  "still stops an ingest; to read raw data while ingests run, open a copy "
                  "of the file.",
    "warehouse.duckdb": "to query while builds run, open a copy of the file; a future "
                        "`journeys refresh` will publish without blocking readers.",
}


def database_busy(text: str, command: str) -> DatabaseBusy | None:
    """A plain DatabaseBusy for DuckDB's lock error found in `text`, or None if there is
    none there. `command` is the journeys command that needed the file."""
    found = DUCKDB_LOCK.search(text)
    if not found:
        return None
    file, pid = Path(found["file"]), int(found["pid"])
    command_line = command_line_of(pid, fallback=found["exe"])
    advice = ADVICE.get(file.name, "open a copy of the file instead.")
    return DatabaseBusy(
        f"{file} is open in another process: pid {pid} (`{command_line}`). `journeys "
        f"{command}` needs it, and DuckDB lets one process write a file or several read it, "
        f"never both. Close that session (or its connection to {file.name}), or stop it "
        f"(`kill {pid}`), then run `journeys {command}` again; {advice}")


def busy_from(error: BaseException, command: str) -> DatabaseBusy | None:
    """database_busy for an exception or any exception it was raised from (dlt wraps
    DuckDB's error in its own, with advice about credentials and the internet)."""
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return database_busy("\n".join(str(e) for e in seen), command)


def probe_duckdb(path: Path, command: str, write: bool) -> None:
    """Open `path` as `command` is about to (for writing, or read-only) and close it at
    once; raise DatabaseBusy naming the process that holds it. Any other error is left
    for the step itself to report."""
    if not path.exists():
        return  # nobody holds a file that is not there
    try:
        duckdb.connect(str(path), read_only=not write).close()
    except duckdb.Error as error:
        busy = database_busy(str(error), command)
        if busy:
            raise busy from None
