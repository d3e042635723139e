"""`journeys ingest`'s live progress: per source, rows read, rows per second and rows
rejected so far, on a terminal only. Runs the real pipeline with the real collector; the
expected counts are those planted in each file."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from journeys.ingest import run_source
from journeys.paths import DataDir
from journeys.progress import IngestProgress, ingest_progress

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def export_line(n: int, **changes) -> str:
    row = {
        "uuid": f"u{n}",
        "timestamp": f"2026-05-01T12:{n % 60:02d}:00+00:00",
        "_inserted_at": "2026-05-01T13:00:00+00:00",
        "created_at": "2026-05-01T13:00:00+00:00",
        "event": "$pageview",
        "distinct_id": "d1",
        "properties": {"$session_id": "s1"},
        **changes,
    }
    return json.dumps(row)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """Two files: 40 + 25 good rows, and 3 bad ones (no uuid, blank distinct_id, a
    truncated line): 65 rows read, 3 rejected."""
    folder = tmp_path / "exports"
    folder.mkdir()
    first = [export_line(n) for n in range(40)] + [export_line(99, uuid=None)]
    second = [export_line(n) for n in range(100, 125)]
    second += [export_line(98, distinct_id="  "), '{"uuid": "cut off']
    (folder / "2026-05-01T12.jsonl").write_text("\n".join(first) + "\n")
    (folder / "2026-05-01T13.jsonl").write_text("\n".join(second) + "\n")
    return folder


def shown(console: Console) -> str:
    """What a terminal would have been sent, escape codes removed, one redraw a line."""
    text = ANSI.sub("", console.file.getvalue())
    return text.replace("\r", "\n")


def test_a_terminal_sees_rows_read_the_rate_and_rejects_per_source(
    exports: Path, tmp_path: Path
) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, force_interactive=True, width=160)
    data = DataDir(tmp_path / "data").ensure()
    with ingest_progress(console, "posthog-files") as progress:
        result = run_source(data, "posthog-files", str(exports), progress=progress)
    assert result.rows_extracted == {"events": 65}
    assert result.rows_rejected == 3
    lines = [line for line in shown(console).splitlines() if "posthog-files" in line]
    assert lines, shown(console)
    final = re.search(
        r"posthog-files (?P<rows>[\d,]+) rows read · (?P<rate>[\d,]+) rows/s · "
        r"(?P<rejected>\d+) rejected · done",
        lines[-1],
    )
    assert final, lines[-1]
    assert final["rows"] == "65" and final["rejected"] == "3"
    assert int(final["rate"].replace(",", "")) > 0
    assert lines[-1].lstrip().startswith("✓")


def test_off_a_terminal_nothing_is_shown(exports: Path, tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), width=160)  # a pipe, CI, a captured stream
    assert not console.is_terminal
    data = DataDir(tmp_path / "data").ensure()
    with ingest_progress(console, "posthog-files") as progress:
        run_source(data, "posthog-files", str(exports), progress=progress)
    assert console.file.getvalue() == ""
    assert progress.rows_read == 65  # it still counted


def test_the_rate_is_rows_over_the_time_spent_reading() -> None:
    """The collector as dlt drives it, with a clock moved by hand: two extract steps (dlt
    extracts its own state in a second one), then normalize and load."""
    now = [100.0]
    progress = IngestProgress("hubspot", clock=lambda: now[0])
    with progress("Extract hubspot"):
        progress.update("Resources", 0, 2)
        progress.update("contacts", 300)
        now[0] += 2.0
        progress.update("_rejected_records", 4)
        assert progress.status() == "300 rows read · 150 rows/s · 4 rejected"
        progress.update("deals", 200)
        now[0] += 3.0
    with progress("Extract hubspot"):
        progress.update("_dlt_pipeline_state", 1)  # dlt's bookkeeping, not a source row
        now[0] += 5.0
    # 500 rows over 10 s of reading
    assert progress.status() == "500 rows read · 50 rows/s · 4 rejected"
    with progress("Normalize hubspot in 1"):
        progress.update("contacts", 300)
        now[0] += 60.0  # time outside reading does not change the rate
        assert progress.status().endswith("· normalizing 300 rows")
    with progress("Load hubspot in 1"):
        progress.update("Jobs", 0, 3)
        progress.update("Jobs", 0, inc_total=1)
        progress.update("Jobs")
        assert progress.status() == "500 rows read · 50 rows/s · 4 rejected · loading 1/4 jobs"
    progress.finish()
    assert progress.status() == "500 rows read · 50 rows/s · 4 rejected · done"
