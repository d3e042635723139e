"""One benchmark step in a child process of its own: its time and its peak resident memory.

    measured = run_measured("journeys.bench.harness:step_build", {"root": "..."})
    measured.seconds, measured.peak_rss_bytes, measured.value

The child (`python -m journeys.bench.measure SPEC`) imports the function, times the call
alone (not the interpreter's start or its imports) and writes the time and the function's
JSON return value to a file. The parent reaps it with `os.wait4`, whose rusage gives the
largest resident set of the child and of every process it waited for (dbt, which
`journeys.dbt.run_dbt` runs as a grandchild); meanwhile it samples the whole process tree
with psutil, so processes running side by side count together. The peak is the larger
of the two: no step can hide memory in a process of its own.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

SAMPLE_SECONDS = 0.1


class StepFailed(RuntimeError):
    """A measured step ended with an error; the message names the step."""


@dataclass(frozen=True)
class Measured:
    seconds: float  # the function's own time, measured in the child
    peak_rss_bytes: int  # the child's process tree at its largest
    processes: int  # the most processes seen in the tree at once (1: it spawned none)
    value: Any  # what the function returned (through JSON)


class _TreeSampler(threading.Thread):
    """Sums the resident memory of a process and its descendants every SAMPLE_SECONDS."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_bytes = 0
        self.processes = 0
        self._done = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for process in tree:
                # a process may end between the listing and the reading
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.peak_bytes = max(self.peak_bytes, total)
            self.processes = max(self.processes, len(tree))
            self._done.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_measured(function: str, kwargs: dict[str, Any], step: str,
                 env: dict[str, str] | None = None) -> Measured:
    """Run `function` ("module:name", JSON-able keyword arguments) in a child process.
    Raises StepFailed naming `step` when it fails (its traceback is on stderr)."""
    with tempfile.TemporaryDirectory(prefix="journeys-step-") as folder:
        spec = Path(folder) / "spec.json"
        out = Path(folder) / "out.json"
        spec.write_text(json.dumps({"function": function, "kwargs": kwargs, "out": str(out)}))
        child = subprocess.Popen([sys.executable, "-m", "journeys.bench.measure", str(spec)],
                                 env={**os.environ, **(env or {})})
        sampler = _TreeSampler(child.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:  # interrupted: do not leave the step running
            child.kill()
            child.wait()
            raise
        finally:
            sampler.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0 or not out.exists():
            raise StepFailed(f"{step} failed (exit {child.returncode}); its error is above.")
        result = json.loads(out.read_text())
    # ru_maxrss is in KiB on Linux
    peak = max(usage.ru_maxrss * 1024, sampler.peak_bytes)
    return Measured(result["seconds"], peak, max(sampler.processes, 1), result["value"])


def _child(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    module, name = spec["function"].split(":")
    function = getattr(importlib.import_module(module), name)
    started = time.perf_counter()
    try:
        value = function(**spec["kwargs"])
    except Exception:
        traceback.print_exc()
        return 1
    seconds = time.perf_counter() - started
    Path(spec["out"]).write_text(json.dumps({"seconds": seconds, "value": value}))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
