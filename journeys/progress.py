"""What `journeys ingest` shows while a source loads: rows read, rows per second and rows
rejected so far, then the normalize and load steps, on one line per source.

The counts come from dlt itself: `IngestProgress` is a dlt progress collector (the
`progress=` argument of `dlt.pipeline`, see `dlt.common.runtime.collector`), which dlt's
extract step tells how many rows it wrote to each table, its normalize step how many it
normalized and its load step how many load jobs are done. The line is drawn with rich on
a terminal only: when the console is not interactive (CI, a pipe, a test's captured
output) nothing is drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dlt.common.runtime.collector import Collector
from rich.console import Console
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TimeElapsedColumn
from rich.text import Text

from pipelines.quarantine import REJECTED_TABLE


class IngestProgress(Collector):
    """Counts what dlt reports for one source's run; `status()` says it in a line."""

    def __init__(self, source: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.step = ""
        self.phase = "starting"
        self.rows_read = 0
        self.rows_rejected = 0
        self.rows_normalized = 0
        self.jobs_done = 0
        self.jobs_total = 0
        self._clock = clock
        self._read_started: float | None = None  # the extract step under way, if any
        self._read_seconds = 0.0  # extract steps already over (dlt extracts its state apart)

    # -- dlt's Collector interface ----------------------------------------------------
    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        if self.phase == "reading":
            if name == REJECTED_TABLE:
                self.rows_rejected += inc
            elif not self._is_bookkeeping(name):
                self.rows_read += inc
        elif self.phase == "normalizing":
            if name != REJECTED_TABLE and not self._is_bookkeeping(name):
                self.rows_normalized += inc
        elif self.phase == "loading" and name == "Jobs" and not label:
            if total is not None:  # the counter's first report: jobs already done, all jobs
                self.jobs_total = total
            self.jobs_total += inc_total or 0
            self.jobs_done += inc

    def _start(self, step: str) -> None:
        kind = step.split(" ", 1)[0].lower()  # "Extract <source>", "Normalize …", "Load …"
        self.phase = {"extract": "reading", "normalize": "normalizing", "load": "loading"}.get(
            kind, kind
        )
        if self.phase == "reading":
            self._read_started = self._clock()
        elif self.phase == "normalizing":
            self.rows_normalized = 0
        elif self.phase == "loading":
            self.jobs_done = self.jobs_total = 0

    def _stop(self) -> None:
        if self.phase == "reading" and self._read_started is not None:
            self._read_seconds += self._clock() - self._read_started
            self._read_started = None

    @staticmethod
    def _is_bookkeeping(name: str) -> bool:
        """dlt's own counters and tables: not rows of the source."""
        return name in ("Resources", "Files", "Items", "Jobs") or name.startswith("_dlt")

    # -- what to show -----------------------------------------------------------------
    def rows_per_second(self) -> float:
        """Rows read per second spent reading (so far, or over the whole read once done)."""
        seconds = self._read_seconds
        if self._read_started is not None:
            seconds += self._clock() - self._read_started
        return self.rows_read / seconds if seconds > 0 else 0.0

    def status(self) -> str:
        counts = (
            f"{self.rows_read:,} rows read · {self.rows_per_second():,.0f} rows/s · "
            f"{self.rows_rejected:,} rejected"
        )
        if self.phase == "normalizing":
            return f"{counts} · normalizing {self.rows_normalized:,} rows"
        if self.phase == "loading":
            jobs = f" {self.jobs_done}/{self.jobs_total} jobs" if self.jobs_total else ""
            return f"{counts} · loading{jobs}"
        if self.phase == "done":
            return f"{counts} · done"
        return counts

    def finish(self) -> None:
        self.phase = "done"


class _StatusColumn(ProgressColumn):
    """The collector's line, read at every refresh so the rate moves while a page loads."""

    def render(self, task: Task) -> Text:
        return Text(task.fields["collector"].status())


@contextmanager
def ingest_progress(console: Console, source: str) -> Iterator[IngestProgress]:
    """A collector for one source's run, drawn as a live line on `console` when it is an
    interactive terminal; off a terminal it only counts."""
    collector = IngestProgress(source)
    if not console.is_interactive:
        yield collector
        return
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        "[bold]{task.description}",
        _StatusColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, refresh_per_second=4) as bar:
        task = bar.add_task(source, total=1, collector=collector)
        yield collector  # on an error the line stays as it was, without the tick
        collector.finish()
        bar.update(task, completed=1)
