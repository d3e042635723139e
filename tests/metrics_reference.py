"""A plain-Python reading of docs/metrics.md (fct_daily_metrics, fct_tracking_loss) and of
SEMANTICS.md ("Trial outcome", "Tracking loss"), written from those texts alone.

It shares nothing with the SQL marts and works another way: the marts add and remove
persons from running windows as their active days start and end; this walks the days one
by one and collects, for each, the set of persons active in the window ending on it.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.retention_reference import Event, Person

UTC = dt.UTC
PRODUCT_SOURCES = ("posthog", "app")
SEEDS = Path(__file__).resolve().parents[1] / "seeds"


@dataclass(frozen=True)
class Day:
    """One row of fct_daily_metrics, without its date."""

    signups: int
    trials_started: int
    conversions: int
    churns: int
    dau: int
    wau: int
    mau: int
    stickiness: float | None
    trials_ended: int
    trials_ended_converted: int
    trial_conversion_rate: float | None
    is_complete: bool


def utc_day(instant: dt.datetime) -> dt.date:
    return instant.astimezone(UTC).date()


def is_active(event: Event, active_events: list[str] | None) -> bool:
    """A counted event that makes its person active: product use by default (PostHog or
    app, name not starting with `$`), else one of the named events from any source."""
    if not event.is_counted:
        return False
    if active_events is None:
        return event.source in PRODUCT_SOURCES and not event.name.startswith("$")
    return event.name in active_events


def moments(persons: Iterable[Person], events: Iterable[Event]) -> list[dt.datetime]:
    """Every instant something happened: each event (every source, every copy) and each
    app account's signup, conversion and churn."""
    found = [e.occurred_at for e in events]
    for person in persons:
        found += [t for t in (person.signed_up_at, person.converted_at, person.churned_at)
                  if t is not None]
    return found


def signups(persons: Iterable[Person], events: Iterable[Event]) -> dict[str, dt.datetime]:
    """Person -> signup: the app's signed_up_at, else their first `signed_up` event (any
    row, a PostHog copy too)."""
    signed: dict[str, dt.datetime] = {}
    for event in events:
        if event.name == "signed_up" and (
                event.person_id not in signed or event.occurred_at < signed[event.person_id]):
            signed[event.person_id] = event.occurred_at
    for person in persons:
        if person.signed_up_at is not None:
            signed[person.person_id] = person.signed_up_at
    return signed


def daily_metrics(persons: list[Person], events: list[Event], *, trial_days: int = 14,
                  active_events: list[str] | None = None) -> dict[dt.date, Day]:
    """UTC day -> its row, every day from the data's first to the one holding its end."""
    happened = moments(persons, events)
    if not happened:
        return {}
    start, end = min(happened), max(happened)
    active_on: dict[dt.date, set[str]] = defaultdict(set)
    for event in events:
        if is_active(event, active_events):
            active_on[utc_day(event.occurred_at)].add(event.person_id)
    signed = signups(persons, events)
    signup_days = Counter(utc_day(t) for t in signed.values())
    conversion_days = Counter(utc_day(p.converted_at) for p in persons if p.converted_at)
    churn_days = Counter(utc_day(p.churned_at) for p in persons if p.churned_at)
    converted = {p.person_id for p in persons if p.converted_at}
    ended: Counter = Counter()
    ended_converted: Counter = Counter()
    for person_id, signed_up_at in signed.items():
        trial_end = signed_up_at + dt.timedelta(days=trial_days)
        if trial_end <= end:  # the trial has ended by the data's end
            ended[utc_day(trial_end)] += 1
            ended_converted[utc_day(trial_end)] += person_id in converted

    def window(day: dt.date, days: int) -> set[str]:
        found: set[str] = set()
        for back in range(days):
            found |= active_on.get(day - dt.timedelta(days=back), set())
        return found

    rows = {}
    day, last = utc_day(start), utc_day(end)
    while day <= last:
        dau, wau, mau = len(window(day, 1)), len(window(day, 7)), len(window(day, 30))
        rows[day] = Day(
            signups=signup_days[day],
            trials_started=signup_days[day],
            conversions=conversion_days[day],
            churns=churn_days[day],
            dau=dau,
            wau=wau,
            mau=mau,
            stickiness=dau / mau if mau else None,
            trials_ended=ended[day],
            trials_ended_converted=ended_converted[day],
            trial_conversion_rate=ended_converted[day] / ended[day] if ended[day] else None,
            is_complete=day < last,
        )
        day += dt.timedelta(days=1)
    return rows


# -- tracking loss ------------------------------------------------------------------------
def plan_sides(path: Path = SEEDS / "tracking_plan.csv") -> dict[str, str]:
    """The tracking plan's side (both, client, server) of each planned event."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["event_name"]: row["side"] for row in csv.DictReader(handle)}


@dataclass(frozen=True)
class Loss:
    """One row of fct_tracking_loss, without its event and date."""

    plan_side: str | None
    server_events: int
    client_events: int
    loss_pct: float | None
    is_client_excess: bool


def tracking_loss(sides: Iterable[tuple[str, str, dt.datetime]],
                  plan: dict[str, str]) -> dict[tuple[str, dt.date], Loss]:
    """(event name, UTC day) -> its row, from (side, event name, instant) triples, side
    `server` (an app event) or `client` (a PostHog event, each once, copies included).
    Events sent from both sides: the plan says `both`, or both sides sent the name."""
    counts: dict[tuple[str, dt.date], Counter] = defaultdict(Counter)
    sent_by: dict[str, set[str]] = defaultdict(set)
    for side, name, instant in sides:
        counts[(name, utc_day(instant))][side] += 1
        sent_by[name].add(side)
    rows = {}
    for (name, day), count in counts.items():
        if plan.get(name) != "both" and sent_by[name] != {"server", "client"}:
            continue
        server, client = count["server"], count["client"]
        rows[(name, day)] = Loss(
            plan_side=plan.get(name),
            server_events=server,
            client_events=client,
            loss_pct=(server - client) / server if server else None,
            is_client_excess=client > server,
        )
    return rows
