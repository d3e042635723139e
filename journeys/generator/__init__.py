"""Demo data: a simulated B2B SaaS trial population written in each source's native shape.

`generate()` streams the population chunk by chunk into
- `posthog/events/*.jsonl|parquet`: PostHog batch-export files,
- `app/`: the app's Postgres tables (`schema.sql`, `users.csv`, `events.csv`),
- `hubspot/<object>/page-*.json` and `intercom/<object>/page-*.json`: list-API pages,
- `truth.json`: the planted facts the marts must recover.

`defects` plants the customer's data-quality problems a warehouse must survive: that
fraction of app users has no email and no signup time in the app's `users` table.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from journeys.generator import posthog
from journeys.generator import simulate as sim
from journeys.generator.app import AppWriter
from journeys.generator.crm import CrmWriter
from journeys.generator.truth import Truth

DEFAULT_START = dt.date(2026, 5, 4)  # a Monday: 26 weekly cohorts end on 2026-11-02
OUTPUTS = ("posthog", "app", "hubspot", "intercom", "truth.json", ".staging")
FORMATS = ("jsonl", "parquet")


@dataclass(frozen=True)
class Progress:
    users_done: int
    users_total: int
    posthog_rows: int
    app_events: int


def defective_users(users: int, seed: int, defects: float) -> np.ndarray:
    """A mask over all users: round(users x defects) of them, chosen by the seed alone."""
    mask = np.zeros(users, dtype=bool)
    count = round(users * defects)
    mask[np.random.default_rng([seed, 4]).choice(users, size=count, replace=False)] = True
    return mask


def generate(
    out: Path,
    users: int = 5_000,
    seed: int = 42,
    fmt: str = "jsonl",
    start: dt.date = DEFAULT_START,
    weeks: int = 26,
    on_progress: Callable[[Progress], None] | None = None,
    chunk_users: int = sim.Plan.chunk_users,
    defects: float = 0.0,
) -> dict:
    """Write the demo sources into `out` (replacing an earlier generation there) and
    return the planted truths (also written to `out/truth.json`).

    The output depends only on (users, seed, start, weeks, chunk_users, defects); users
    are simulated `chunk_users` at a time, which bounds memory whatever the total.
    `defects` (0 to 1): the fraction of app users, round(users x defects) of them chosen
    by the seed, whose `users` row has no email and no signed_up_at.
    """
    if users < 1:
        raise ValueError(f"--users must be at least 1, got {users}")
    if not 0 <= defects <= 1:
        raise ValueError(f"--defects is a fraction of users, from 0 to 1, got {defects}")
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if start.weekday() != 0:
        raise ValueError(f"the start date must be a Monday (cohorts are ISO weeks), got {start}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    start_us = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp())
    plan = sim.Plan(users=users, seed=seed, start_us=start_us * sim.US, weeks=weeks,
                    chunk_users=chunk_users)
    signups = sim.signup_times(plan)
    backfill_start = plan.start_us + 10 * sim.WEEK
    export = posthog.ExportWriter(
        out / "posthog" / "events", fmt, (backfill_start, backfill_start + 6 * sim.HOUR)
    )
    defective = defective_users(users, seed, defects)
    app = AppWriter(out / "app", nullable_signup=defects > 0)
    crm = CrmWriter(out, plan)
    truth = Truth(plan)

    for chunk_no in range(plan.chunks):
        lo = chunk_no * plan.chunk_users
        hi = min(users, lo + plan.chunk_users)
        chunk = sim.ChunkSimulator(plan, chunk_no, signups[lo:hi], lo).run()
        client, client_actor = posthog.client_rows(
            chunk, np.random.default_rng([seed, 3, chunk_no])
        )
        export.write(client)
        server, server_idx = app.write(chunk, plan.end_us, blank=defective[lo:hi])
        last_seen = truth.add_chunk(chunk, client_actor, client, server, server_idx)
        crm.write(chunk, chunk_no, plan.end_us, last_seen)
        del chunk, client, server
        if on_progress:
            on_progress(Progress(hi, users, export.rows, app.event_rows))

    export.close()
    app.close()
    crm_counts = crm.close()
    report = truth.report(
        crm_only_leads=crm.crm_only_leads,
        posthog_rows=export.rows,
        posthog_duplicates=export.duplicates,
        crm_counts=crm_counts,
        app_events=app.event_rows,
    )
    report["format"] = fmt
    report["defects"] = {
        "fraction": defects,
        "users_without_email_and_signup": app.blanked_users,
    }
    (out / "truth.json").write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=float)
    )
    return report
