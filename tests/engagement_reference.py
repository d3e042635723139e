"""A plain-Python reading of docs/engagement.md ("Lifecycle", "Intervention triggers"),
written from that text alone. It shares nothing with the SQL marts and works another way:

- Lifecycle: the marts number each person's active weeks and look at the previous and
  next one (lag/lead); this walks every calendar week as a half-open window of instants
  and asks, for every person, whether they had a product event in it, in the week before
  it, and at any time before it.
- Triggers: the marts compute, per condition, the moment it began to hold and take the
  latest. This evaluates a rule *as of* any instant t (only what had happened by t) and
  finds by brute force the earliest instant from which the rule has held at every moment
  up to the data's end: between two consecutive "change points" (the instants at which
  any part of a condition can flip) nothing changes, so it suffices to test those.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

UTC = dt.UTC
WEEK = dt.timedelta(weeks=1)
STATUSES = ("new", "returning", "resurrecting", "dormant")
PRODUCT_SOURCES = ("posthog", "app")


@dataclass(frozen=True)
class Person:
    person_id: str
    email: str | None = None
    signed_up_at: dt.datetime | None = None
    converted_at: dt.datetime | None = None
    churned_at: dt.datetime | None = None


@dataclass(frozen=True)
class Event:
    """One row of the event stream; `is_counted` is false on a PostHog copy of an app event."""

    person_id: str
    name: str
    occurred_at: dt.datetime
    source: str = "app"
    is_counted: bool = True

    @property
    def is_product(self) -> bool:
        return self.is_counted and self.source in PRODUCT_SOURCES and not self.name.startswith("$")


def data_end(persons: Iterable[Person], events: Iterable[Event]) -> dt.datetime:
    """The latest moment in the data: any event row, any signup, conversion or churn."""
    moments = [e.occurred_at for e in events]
    for p in persons:
        moments += [t for t in (p.signed_up_at, p.converted_at, p.churned_at) if t is not None]
    return max(moments)


def monday(instant: dt.datetime) -> dt.datetime:
    day = instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=day.weekday())


# -- lifecycle --------------------------------------------------------------------------------
def lifecycle(persons: list[Person], events: list[Event]) -> dict[tuple[dt.date, str],
                                                                  tuple[int, bool]]:
    """(week's Monday, status) -> (persons, is_complete), for every week from the first
    with a product event to the one holding the data's end."""
    end = data_end(persons, events)
    times: dict[str, list[dt.datetime]] = defaultdict(list)
    for e in events:
        if e.is_product:
            times[e.person_id].append(e.occurred_at)
    if not times:
        return {}
    for person_times in times.values():
        person_times.sort()

    def active(person: str, start: dt.datetime, stop: dt.datetime) -> bool:
        """A product event at some t with start <= t < stop."""
        ts = times[person]
        i = bisect.bisect_left(ts, start)
        return i < len(ts) and ts[i] < stop

    first = monday(min(t for ts in times.values() for t in ts))
    out = {}
    week = first
    while week <= end:  # a week starting after the data's end holds nothing
        counts = dict.fromkeys(STATUSES, 0)
        for person in times:
            now = active(person, week, week + WEEK)
            before = active(person, week - WEEK, week)
            ever_before = active(person, dt.datetime.min.replace(tzinfo=UTC), week)
            if now and not ever_before:
                counts["new"] += 1
            elif now and before:
                counts["returning"] += 1
            elif now:
                counts["resurrecting"] += 1
            elif before:
                counts["dormant"] += 1
        for status, n in counts.items():
            out[(week.date(), status)] = (n, week + WEEK <= end)
        week += WEEK
    return out


# -- intervention triggers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """One condition of a rule, as docs/engagement.md's grammar reads (durations in
    seconds; `within` is 'trial', a number of seconds, or None)."""

    kind: str
    event: str | None = None
    within: str | int | None = None
    at_least_ago: int = 0
    not_followed_by: str | None = None
    seconds: int = 0  # signed_up_at_least, inactive_for
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    conditions: tuple[Condition, ...]


def duration(value: dict) -> int:
    ((unit, amount),) = value.items()
    return int(amount) * {"hours": 3600, "days": 86400}[unit]


def parse_rules(raw: list[dict]) -> list[Rule]:
    """The var's YAML (as Python data) as Rules."""
    rules = []
    for r in raw:
        conditions = []
        for c in r["conditions"]:
            ((kind, value),) = c.items()
            if kind in ("signed_up_at_least", "inactive_for"):
                conditions.append(Condition(kind, seconds=duration(value)))
            elif kind in ("did", "did_not"):
                value = {"event": value} if isinstance(value, str) else value
                within = value.get("within")
                conditions.append(Condition(
                    kind, event=value["event"],
                    within=within if within in (None, "trial") else duration(within),
                    at_least_ago=duration(value["at_least_ago"]) if "at_least_ago" in value else 0,
                    not_followed_by=value.get("not_followed_by")))
            else:
                value = [value] if isinstance(value, str) else value
                conditions.append(Condition(kind, outcomes=tuple(value)))
        rules.append(Rule(r["name"], r["action"], tuple(conditions)))
    return rules


@dataclass
class Subject:
    """A person as the rules see them."""

    person: Person
    signed_up_at: dt.datetime | None
    started_at: dt.datetime | None
    product: list[dt.datetime] = field(default_factory=list)
    by_name: dict[str, list[dt.datetime]] = field(default_factory=dict)


def subjects(persons: list[Person], events: list[Event]) -> list[Subject]:
    """Every person of `persons` and every other person with an event (an anonymous
    visitor), with their signup (the app's, else their first signed_up event), their first
    moment, product-event times and counted event times by name."""
    rows: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        rows[e.person_id].append(e)
    known = {p.person_id: p for p in persons}
    for person_id in rows:
        known.setdefault(person_id, Person(person_id))
    out = []
    for person_id, person in known.items():
        mine = rows.get(person_id, [])
        signups = [e.occurred_at for e in mine if e.name == "signed_up"]
        signed_up_at = person.signed_up_at or (min(signups) if signups else None)
        moments = [e.occurred_at for e in mine] + ([signed_up_at] if signed_up_at else [])
        by_name: dict[str, list[dt.datetime]] = defaultdict(list)
        for e in mine:
            if e.is_counted:
                by_name[e.name].append(e.occurred_at)
        out.append(Subject(person, signed_up_at, min(moments) if moments else None,
                           sorted(e.occurred_at for e in mine if e.is_product),
                           {k: sorted(v) for k, v in by_name.items()}))
    return out


def outcome_at(s: Subject, t: dt.datetime, trial: dt.timedelta) -> str | None:
    """The trial outcome as it stood at instant t."""
    p = s.person
    if s.signed_up_at is None or s.signed_up_at > t:
        return None
    if p.converted_at is not None and p.converted_at <= t:
        return "converted"
    if p.churned_at is not None and p.churned_at <= t:
        return "churned"
    return "in_trial" if t < s.signed_up_at + trial else "expired_trial"


def holds_at(c: Condition, s: Subject, t: dt.datetime, trial: dt.timedelta) -> bool:
    """Whether the condition held at instant t, from what had happened by t."""
    if s.started_at is None or s.started_at > t:
        return False  # the person does not exist yet
    signed = s.signed_up_at is not None and s.signed_up_at <= t
    if c.kind == "signed_up_at_least":
        return signed and s.signed_up_at + dt.timedelta(seconds=c.seconds) <= t
    if c.kind == "inactive_for":
        last = [x for x in s.product if x <= t]
        since = last[-1] if last else s.started_at
        return since + dt.timedelta(seconds=c.seconds) <= t
    if c.kind == "trial_outcome":
        return outcome_at(s, t, trial) in c.outcomes
    # did / did_not: occurrences by t, in the window
    if c.within is not None and not signed:
        return False
    if c.within is None:
        window = None
    else:
        window = trial if c.within == "trial" else dt.timedelta(seconds=c.within)
    seen = [x for x in s.by_name.get(c.event, []) if x <= t and (
        window is None or s.signed_up_at <= x < s.signed_up_at + window)]
    if c.kind == "did_not":
        return not seen
    ago = dt.timedelta(seconds=c.at_least_ago)
    followers = [f for f in s.by_name.get(c.not_followed_by, []) if f <= t] \
        if c.not_followed_by else []
    return any(x + ago <= t and not any(x <= f for f in followers) for x in seen)


def change_points(rule: Rule, s: Subject, trial: dt.timedelta) -> set[dt.datetime]:
    """Every instant at which some condition of the rule can change its value."""
    base = {x for x in (s.started_at, s.signed_up_at, s.person.converted_at,
                        s.person.churned_at) if x is not None}
    if s.signed_up_at is not None:
        base.add(s.signed_up_at + trial)
    base |= set(s.product)
    for c in rule.conditions:
        for name in (c.event, c.not_followed_by):
            if name:
                base |= set(s.by_name.get(name, []))
    points = set(base)
    for c in rule.conditions:
        shift = dt.timedelta(seconds=c.seconds or c.at_least_ago)
        points |= {x + shift for x in base}
    return points


def triggers(raw_rules: list[dict], persons: list[Person], events: list[Event],
             trial_days: int = 14) -> dict[tuple[str, str], tuple[str | None, dt.datetime, str]]:
    """(rule name, person) -> (email, matched_since, action) for every person matching a
    rule at the data's end."""
    end = data_end(persons, events)
    trial = dt.timedelta(days=trial_days)
    out = {}
    for s in subjects(persons, events):
        for rule in parse_rules(raw_rules):
            def holds(t: dt.datetime, rule: Rule = rule, s: Subject = s) -> bool:
                return all(holds_at(c, s, t, trial) for c in rule.conditions)
            if not holds(end):
                continue
            since = end
            for t in sorted((p for p in change_points(rule, s, trial) if p < end),
                            reverse=True):
                if not holds(t):
                    break
                since = t
            out[(rule.name, s.person.person_id)] = (s.person.email, since, rule.action)
    return out
