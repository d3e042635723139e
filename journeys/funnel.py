"""`journeys funnel`: try a funnel in the terminal before committing it to the `funnels` var.

The funnel is built by the same dbt models as the configured ones (models/*/funnels/),
with `--vars` holding only this funnel and `scratch_schema_prefix` sending the funnel
models to `adhoc_intermediate` / `adhoc_marts`: the analysts' `marts.fct_funnel_*` stay
as the nightly build left them, and the models read the same `marts.fct_events`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import duckdb

from journeys.dbt import DbtResult, run_dbt
from journeys.paths import DataDir

SCRATCH_PREFIX = "adhoc_"
FUNNEL_MODELS = ["path:models/intermediate/funnels", "path:models/marts/funnels"]
WINDOW = re.compile(r"^(?P<value>[1-9][0-9]*)(?P<unit>[dhs]?)$")
WINDOW_KEYS = {"d": "window_days", "": "window_days", "h": "window_hours", "s": "window_seconds"}


class FunnelError(ValueError):
    """The ad-hoc funnel cannot be built as given; the message says what to change."""


def parse_step(text: str) -> dict:
    """`event` or `event:key=value,key=value` (event property equality filters)."""
    event, _, filters = text.partition(":")
    if not event.strip():
        raise FunnelError(f"step {text!r} has no event name")
    step: dict = {"event": event.strip()}
    if filters:
        where = {}
        for pair in filters.split(","):
            key, equals, value = pair.partition("=")
            if not equals or not key.strip():
                raise FunnelError(
                    f"step {text!r}: write filters as event:key=value,key=value")
            where[key.strip()] = value
        step["where"] = where
    return step


def parse_window(text: str) -> dict:
    """`14d`, `48h`, `3600s` (a bare number is days) -> the funnel's window field."""
    match = WINDOW.match(text.strip())
    if not match:
        raise FunnelError(f"--window {text!r}: give a whole number with d, h or s (14d, 48h)")
    return {WINDOW_KEYS[match["unit"]]: int(match["value"])}


def definition(steps: list[str], order: str = "ordered", window: str = "14d",
               breakdown: str | None = None, breakdown_property: str | None = None,
               date_from: str | None = None, date_to: str | None = None,
               name: str = "adhoc") -> dict:
    """The `funnels` var entry for the command line's funnel."""
    if not steps:
        raise FunnelError("give at least one step: journeys funnel signed_up workspace_created")
    funnel: dict = {"name": name, "steps": [parse_step(s) for s in steps], "order": order,
                    **parse_window(window)}
    if breakdown and breakdown_property:
        raise FunnelError("give --breakdown (a dim_persons column) or --breakdown-property "
                          "(an event property), not both")
    if breakdown:
        funnel["breakdown"] = breakdown
    if breakdown_property:
        funnel["breakdown"] = {"event_property": breakdown_property}
    if date_from:
        funnel["date_from"] = date_from
    if date_to:
        funnel["date_to"] = date_to
    return funnel


def build(data_dir: DataDir, funnel: dict, quiet: bool = True) -> DbtResult:
    """Build the funnel models for this one funnel into the scratch schemas."""
    variables = {"funnels": [funnel], "scratch_schema_prefix": SCRATCH_PREFIX}
    return run_dbt(data_dir, "build", ["--select", *FUNNEL_MODELS,
                                       "--vars", json.dumps(variables)], quiet=quiet)


@dataclass
class StepRow:
    breakdown_value: str
    step_number: int
    step_event: str
    persons: int
    from_previous: float | None
    from_first: float | None
    median_seconds: float | None


def read_steps(data_dir: DataDir) -> list[StepRow]:
    with duckdb.connect(str(data_dir.warehouse_db), read_only=True) as con:
        rows = con.execute(
            f"select breakdown_value, step_number, step_event, persons_reached, "
            f"conversion_from_previous, conversion_from_first, median_seconds_from_previous "
            f"from {SCRATCH_PREFIX}marts.fct_funnel_steps "
            f"order by breakdown_value = '(none)', breakdown_value, step_number").fetchall()
    return [StepRow(*row) for row in rows]


def duration(seconds: float | None) -> str:
    """A short human duration: `42s`, `25m 43s`, `3h 05m`, `2d 4h`."""
    if seconds is None:
        return ""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.1%}"
