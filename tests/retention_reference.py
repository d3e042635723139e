"""A plain-Python reading of SEMANTICS.md's retention rules ("Retention (weekly signup
cohorts)") and of docs/funnels.md's "Retention", written from those texts alone.

It shares nothing with the SQL marts and works another way: the marts truncate dates to
period starts and count periods between them; this walks each cohort's periods as
half-open windows of instants, `[cohort start + N periods, cohort start + N+1 periods)`,
the way SEMANTICS.md states the rule, and looks for a return event inside each window.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

UTC = dt.UTC
PRODUCT_SOURCES = ("posthog", "app")  # CRM touchpoints (hubspot, intercom) are not product use
SIGNUP = "(signup)"  # the cohort event label of signup cohorts


@dataclass(frozen=True)
class Person:
    """What the rules need of a person: the app's signup, conversion and churn times."""

    person_id: str
    signed_up_at: dt.datetime | None = None
    converted_at: dt.datetime | None = None
    churned_at: dt.datetime | None = None


@dataclass(frozen=True)
class Event:
    """One row of the event stream. `is_counted` is false on a PostHog copy of an app
    event (the same occurrence sent from both sides)."""

    person_id: str
    name: str
    occurred_at: dt.datetime
    source: str = "app"
    is_counted: bool = True


@dataclass(frozen=True)
class Cell:
    cohort_size: int
    retained_persons: int
    retention_rate: float
    is_complete: bool


def period_start(instant: dt.datetime, period: str) -> dt.datetime:
    """00:00 UTC of the first day of the calendar period holding the instant."""
    midnight = instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight
    if period == "week":
        return midnight - dt.timedelta(days=midnight.weekday())  # ISO weeks start Monday
    if period == "month":
        return midnight.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def add_periods(start: dt.datetime, count: int, period: str) -> dt.datetime:
    """The start of the period `count` periods after the one starting at `start`."""
    if period == "day":
        return start + dt.timedelta(days=count)
    if period == "week":
        return start + dt.timedelta(weeks=count)
    months = start.year * 12 + start.month - 1 + count
    return start.replace(year=months // 12, month=months % 12 + 1)


def data_end(persons: Iterable[Person], events: Iterable[Event]) -> dt.datetime:
    """The latest moment in the data: any event (every source, every copy) or an app
    account change (signup, conversion, churn), as the trial outcome reads it."""
    moments = [e.occurred_at for e in events]
    for person in persons:
        moments += [t for t in (person.signed_up_at, person.converted_at, person.churned_at)
                    if t is not None]
    return max(moments)


def is_return(event: Event, return_events: list[str] | None) -> bool:
    """A counted event that marks a return: product use by default (PostHog or app, name
    not starting with `$`), else one of the named events from any source."""
    if not event.is_counted:
        return False
    if return_events is None:
        return event.source in PRODUCT_SOURCES and not event.name.startswith("$")
    return event.name in return_events


def entries(persons: Iterable[Person], events: list[Event],
            cohort_event: str | None) -> dict[str, dt.datetime]:
    """Person -> the instant they entered their cohort. Signup: the app's signed_up_at,
    else their first `signed_up` event (any row). Otherwise their first counted event of
    that name."""
    entered: dict[str, dt.datetime] = {}
    if cohort_event is None:
        for event in events:
            if event.name == "signed_up" and (
                    event.person_id not in entered or event.occurred_at < entered[event.person_id]):
                entered[event.person_id] = event.occurred_at
        for person in persons:
            if person.signed_up_at is not None:
                entered[person.person_id] = person.signed_up_at
        return entered
    for event in events:
        if event.is_counted and event.name == cohort_event and (
                event.person_id not in entered or event.occurred_at < entered[event.person_id]):
            entered[event.person_id] = event.occurred_at
    return entered


def retention(persons: list[Person], events: list[Event], *, period: str = "week",
              cohort_event: str | None = None,
              return_events: list[str] | None = None) -> dict[tuple[dt.date, int], Cell]:
    """(cohort start date, periods since the cohort) -> its cell: every cohort with a
    member, periods 0 up to the one holding the data's end."""
    end = data_end(persons, events)
    returns: dict[str, list[dt.datetime]] = defaultdict(list)
    for event in events:
        if is_return(event, return_events):
            returns[event.person_id].append(event.occurred_at)
    for times in returns.values():
        times.sort()
    cohorts: dict[dt.datetime, list[str]] = defaultdict(list)
    for person_id, entered_at in entries(persons, events, cohort_event).items():
        cohorts[period_start(entered_at, period)].append(person_id)

    cells = {}
    for start, members in cohorts.items():
        n = 0
        while (window_start := add_periods(start, n, period)) <= end:
            window_end = add_periods(start, n + 1, period)
            retained = sum(_any_between(returns[m], window_start, window_end) for m in members)
            cells[(start.date(), n)] = Cell(
                cohort_size=len(members),
                retained_persons=retained,
                retention_rate=retained / len(members),
                is_complete=window_end <= end,  # the window ended at or before the data's end
            )
            n += 1
    return cells


def _any_between(times: list[dt.datetime], low: dt.datetime, high: dt.datetime) -> bool:
    """Some time t (sorted list) with low <= t < high."""
    i = bisect.bisect_left(times, low)
    return i < len(times) and times[i] < high
