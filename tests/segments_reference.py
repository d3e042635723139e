"""A plain-Python reading of SEMANTICS.md's segments ("Segments (as of a date)") and of
docs/segments.md, written from those texts alone, for the three segment marts.

It shares nothing with the SQL and works another way: the marts run window sums over a
stream of day numbers; this takes each evaluation day on its own, keeps the person's
events that happened before the end of that day (an instant comparison, midnight UTC of
the next day), and counts them, finds the last, and applies the rules in order.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

UTC = dt.UTC
SEGMENTS = ("churned", "champion", "power_user", "active", "at_risk", "dormant")
NEW = "(new)"  # the from_segment of a person's first week
DEFAULTS = {"champion_min_events": 100, "champion_max_days": 7, "power_user_min_events": 30,
            "power_user_max_days": 14, "active_max_days": 14, "at_risk_max_days": 30}
PRODUCT_SOURCES = ("posthog", "app")  # CRM touchpoints are the company's, not product use
LAST_DAYS = 30  # events_last_30d: the as-of day and the 30 days before it


@dataclass(frozen=True)
class Person:
    """What the rules need of a person: the app's signup, conversion and churn times."""

    person_id: str
    signed_up_at: dt.datetime | None = None
    converted_at: dt.datetime | None = None
    churned_at: dt.datetime | None = None


@dataclass(frozen=True)
class Event:
    """One row of the event stream; `is_counted` false on a PostHog copy of an app event."""

    person_id: str
    name: str
    occurred_at: dt.datetime
    source: str = "app"
    is_counted: bool = True


@dataclass(frozen=True)
class Segment:
    """A person's segment as of a day, with what it was decided on."""

    as_of_date: dt.date
    segment: str
    lifetime_events: int
    events_last_30d: int
    days_since_active: int | None


def data_end(persons: Iterable[Person], events: Iterable[Event]) -> dt.datetime:
    """The latest moment in the data: any event row (every source, copies too) or an app
    account change (signup, conversion, churn)."""
    moments = [e.occurred_at for e in events]
    for p in persons:
        moments += [t for t in (p.signed_up_at, p.converted_at, p.churned_at) if t is not None]
    return max(moments)


def is_product_event(event: Event) -> bool:
    """Product use: a counted event from PostHog or the app, not one of PostHog's `$`."""
    return (event.is_counted and event.source in PRODUCT_SOURCES
            and not event.name.startswith("$"))


def end_of(day: dt.date) -> dt.datetime:
    """The first instant after a UTC day."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), UTC)


def rule(settings: dict, churned: bool, lifetime: int, days: int | None) -> str:
    """SEMANTICS.md's rules, in order, the first that holds."""
    if churned:
        return "churned"
    if days is None:  # never active: no rule that asks how long ago can hold
        return "dormant"
    if lifetime >= settings["champion_min_events"] and days <= settings["champion_max_days"]:
        return "champion"
    if lifetime >= settings["power_user_min_events"] and days <= settings["power_user_max_days"]:
        return "power_user"
    if days <= settings["active_max_days"]:
        return "active"
    if days <= settings["at_risk_max_days"]:
        return "at_risk"
    return "dormant"


def evaluate(person: Person | None, times: list[dt.datetime], day: dt.date,
             settings: dict) -> Segment:
    """A person's segment as of the end of `day`, from their product event times."""
    until = end_of(day)
    before = [t for t in times if t < until]
    recent_from = end_of(day - dt.timedelta(days=LAST_DAYS + 1))  # 00:00 of day - 30
    last = max(before, default=None)
    days = None if last is None else (day - last.astimezone(UTC).date()).days
    churned = (person is not None and person.churned_at is not None
               and person.churned_at < until)
    return Segment(day, rule(settings, churned, len(before), days), len(before),
                   sum(1 for t in before if t >= recent_from), days)


def first_day(person: Person | None, times: list[dt.datetime]) -> dt.date | None:
    """The person's first day: the earlier of their signup and first product event."""
    moments = list(times)
    if person is not None and person.signed_up_at is not None:
        moments.append(person.signed_up_at)
    return min(moments).astimezone(UTC).date() if moments else None


def _inputs(persons: list[Person], events: list[Event], as_of: dt.date | None
            ) -> tuple[dt.date, dict[str, Person], dict[str, list[dt.datetime]]]:
    day = as_of or data_end(persons, events).astimezone(UTC).date()
    by_id = {p.person_id: p for p in persons}
    times: dict[str, list[dt.datetime]] = defaultdict(list)
    for event in events:
        if is_product_event(event):
            times[event.person_id].append(event.occurred_at)
    return day, by_id, times


def history(persons: list[Person], events: list[Event], *, as_of: dt.date | None = None,
            settings: dict | None = None) -> dict[tuple[str, dt.date], Segment]:
    """(person, week's Monday) -> the segment as of the week's Sunday (the as-of day in
    the as-of week), for every week from the person's first to the as-of week."""
    settings = settings or DEFAULTS
    day, by_id, times = _inputs(persons, events, as_of)
    rows = {}
    for person_id in set(by_id) | set(times):
        start = first_day(by_id.get(person_id), times[person_id])
        if start is None or start > day:
            continue
        week = start - dt.timedelta(days=start.weekday())
        while week <= day:
            evaluated_on = min(week + dt.timedelta(days=6), day)
            rows[(person_id, week)] = evaluate(by_id.get(person_id), times[person_id],
                                               evaluated_on, settings)
            week += dt.timedelta(weeks=1)
    return rows


def segments(persons: list[Person], events: list[Event], *, as_of: dt.date | None = None,
             settings: dict | None = None) -> dict[str, Segment]:
    """person -> their segment as of the as-of day, for the persons who signed up or used
    the product by then (computed on its own, not read from `history`)."""
    settings = settings or DEFAULTS
    day, by_id, times = _inputs(persons, events, as_of)
    out = {}
    for person_id in set(by_id) | set(times):
        start = first_day(by_id.get(person_id), times[person_id])
        if start is not None and start <= day:
            out[person_id] = evaluate(by_id.get(person_id), times[person_id], day, settings)
    return out


def transitions(rows: dict[tuple[str, dt.date], Segment]) -> dict[tuple[dt.date, str, str], int]:
    """(week, segment the week before or `(new)`, segment this week) -> persons."""
    counts: Counter = Counter()
    for (person_id, week), row in rows.items():
        before = rows.get((person_id, week - dt.timedelta(weeks=1)))
        counts[(week, before.segment if before else NEW, row.segment)] += 1
    return dict(counts)
