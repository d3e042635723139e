"""A plain-Python reference of the funnel rules (SEMANTICS.md "Funnels (PostHog semantics)"
and docs/funnels.md), written from those words and sharing no code with the SQL marts.

It is deliberately brute force, so it checks the marts' step-by-step algorithm rather than
repeating it:
- ordered and strict attempts: every valid choice of events is enumerated (a depth-first
  search over "which event fills the next step"), and an attempt reaches the most steps
  any choice fills; step k is reached at the earliest instant any choice fills it;
- unordered attempts: maximum matchings of steps to events (simple augmenting paths),
  recomputed at every instant of the window.

Inputs are small (a few persons, a few events each); exactness matters, speed does not.

    out = run_funnel(events, persons, funnel, data_end)
    out.persons, out.steps, out.trends, out.time_to_convert   # rows, as dicts

Rows carry the marts' column names: fct_funnel_persons, fct_funnel_steps,
fct_funnel_trends and fct_funnel_time_to_convert.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

UTC = dt.UTC
MAX_STEPS = 10
DEFAULT_WINDOW = dt.timedelta(days=14)
PERIODS = {"day": dt.timedelta(days=1), "week": dt.timedelta(days=7)}
MAX_BINS = 60
FALLBACK_BIN_WIDTH = 60


@dataclass(frozen=True)
class Event:
    """One counted fct_events row: the person, the name, the UTC instant, the properties."""

    person_id: str
    event_name: str
    occurred_at: dt.datetime
    properties: Mapping[str, Any] = field(default_factory=dict)
    event_id: str = ""


@dataclass
class Attempt:
    """One attempt of one person: its start, how many steps it reaches, when it reaches
    each (t[k-1] for step k), and for each step the events that fill it at that instant in
    some valid choice (step-N attribution)."""

    start: dt.datetime
    reached: int
    times: list[dt.datetime]
    fillers: list[set[int]]
    excluded: bool = False


@dataclass
class Output:
    persons: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    trends: list[dict] = field(default_factory=list)
    time_to_convert: list[dict] = field(default_factory=list)


# -- values as text ---------------------------------------------------------------------------
def as_text(value: Any) -> str | None:
    """A property or column value as the marts compare it: booleans `true`/`false`,
    numbers as written (2, not 2.0, for integers), text as is, null as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bucket(value: str | None) -> str:
    """Null and '' share the bucket '(none)'."""
    return "(none)" if value is None or value == "" else value


# -- the definition --------------------------------------------------------------------------
def window_of(funnel: Mapping[str, Any]) -> dt.timedelta:
    for key, unit in (("window_days", "days"), ("window_hours", "hours"),
                      ("window_seconds", "seconds")):
        if funnel.get(key) is not None:
            return dt.timedelta(**{unit: int(funnel[key])})
    return DEFAULT_WINDOW


def as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def date_bounds(funnel: Mapping[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[date_from 00:00, date_to + 1 day 00:00): the inclusive dates as a half-open range."""
    date_from, date_to = as_date(funnel.get("date_from")), as_date(funnel.get("date_to"))
    low = midnight(date_from) if date_from else None
    high = midnight(date_to) + dt.timedelta(days=1) if date_to else None
    return low, high


def in_range(moment: dt.datetime, low: dt.datetime | None, high: dt.datetime | None) -> bool:
    return (low is None or moment >= low) and (high is None or moment < high)


def matches(event: Event, rule: Mapping[str, Any], person: Mapping[str, Any] | None) -> bool:
    """An event matches a step (or an exclusion): same name, every `where` property and
    every `where_person` column equal as text; a missing value never matches."""
    if event.event_name != rule["event"]:
        return False
    for key, wanted in (rule.get("where") or {}).items():
        have = as_text(event.properties.get(key))
        if have is None or have != as_text(wanted):
            return False
    for column, wanted in (rule.get("where_person") or {}).items():
        have = as_text((person or {}).get(column))
        if have is None or have != as_text(wanted):
            return False
    return True


# -- ordered and strict: every valid choice -------------------------------------------------
def ordered_attempt(events: Sequence[Event], step_matches: list[set[int]], start: dt.datetime,
                    window: dt.timedelta, strict: bool, moments: list[dt.datetime]) -> Attempt:
    """Enumerate every valid choice of events for the attempt starting at `start`:
    distinct events, step 1 at `start`, each step at or after the previous one and at most
    `window` after `start`; strict: no event of the person strictly between two
    consecutive steps' instants."""
    n = len(step_matches)
    placed: list[set[int]] = [set() for _ in range(n)]
    seen: set[tuple[int, dt.datetime, frozenset[int]]] = set()
    end = start + window

    def nothing_between(earlier: dt.datetime, later: dt.datetime) -> bool:
        # moments sorted: is any moment m with earlier < m < later?
        i = bisect_right(moments, earlier)
        return i >= len(moments) or moments[i] >= later

    def extend(filled: int, last: dt.datetime, used: frozenset[int]) -> None:
        state = (filled, last, used)
        if filled == n or state in seen:
            return
        seen.add(state)
        for index in step_matches[filled]:
            moment = events[index].occurred_at
            if index in used or moment < last or moment > end:
                continue
            if strict and not nothing_between(last, moment):
                continue
            placed[filled].add(index)
            extend(filled + 1, moment, used | {index})

    for index in step_matches[0]:
        if events[index].occurred_at == start:
            placed[0].add(index)
            extend(1, start, frozenset({index}))
    return attempt_from_placements(events, start, placed)


def attempt_from_placements(events: Sequence[Event], start: dt.datetime,
                            placed: list[set[int]]) -> Attempt:
    times: list[dt.datetime] = []
    fillers: list[set[int]] = []
    for indexes in placed:
        if not indexes:
            break
        earliest = min(events[i].occurred_at for i in indexes)
        times.append(earliest)
        fillers.append({i for i in indexes if events[i].occurred_at == earliest})
    return Attempt(start=start, reached=len(times), times=times, fillers=fillers)


# -- unordered: maximum matchings -----------------------------------------------------------
def max_matching(step_matches: list[set[int]], usable: set[int]) -> int:
    """The most steps distinct usable events can fill (augmenting paths, Kuhn)."""
    owner: dict[int, int] = {}  # event -> step

    def augment(step: int, visited: set[int]) -> bool:
        for index in step_matches[step]:
            if index not in usable or index in visited:
                continue
            visited.add(index)
            if index not in owner or augment(owner[index], visited):
                owner[index] = step
                return True
        return False

    return sum(1 for step in range(len(step_matches)) if augment(step, set()))


def unordered_attempt(events: Sequence[Event], step_matches: list[set[int]],
                      start: dt.datetime, window: dt.timedelta) -> Attempt:
    """The attempt starting at `start`: its events are those in [start, start + window];
    it reaches k steps at the first instant t at which events in [start, t] can fill k
    steps; an event fills step k when some k-step matching of [start, t_k] uses it."""
    end = start + window
    relevant = set().union(*step_matches)
    inside = [i for i in relevant if start <= events[i].occurred_at <= end]
    times: list[dt.datetime] = []
    fillers: list[set[int]] = []
    for moment in sorted({events[i].occurred_at for i in inside}):
        usable = {i for i in inside if events[i].occurred_at <= moment}
        size = max_matching(step_matches, usable)
        while len(times) < size:
            k = len(times) + 1
            times.append(moment)
            fillers.append(unordered_fillers(events, step_matches, usable, moment, k))
    return Attempt(start=start, reached=len(times), times=times, fillers=fillers)


def unordered_fillers(events: Sequence[Event], step_matches: list[set[int]], usable: set[int],
                      moment: dt.datetime, k: int) -> set[int]:
    """Events at `moment` that some k-step matching of `usable` uses."""
    found = set()
    for index in usable:
        if events[index].occurred_at != moment:
            continue
        for step, candidates in enumerate(step_matches):
            if index not in candidates:
                continue
            others = [c if s != step else set() for s, c in enumerate(step_matches)]
            if max_matching(others, usable - {index}) >= k - 1:
                found.add(index)
                break
    return found


# -- exclusions -------------------------------------------------------------------------------
def is_excluded(attempt: Attempt, exclusion_times: list[tuple[int, int, list[dt.datetime]]],
                window: dt.timedelta) -> bool:
    """docs/funnels.md "Exclusions": an exclusion [i, j] excludes an attempt that reaches
    step i when an exclusion event lies strictly after t_i and strictly before t_j (or,
    when the attempt never reaches step j, at or before start + window)."""
    for i, j, moments in exclusion_times:
        if attempt.reached < i:
            continue
        after = attempt.times[i - 1]
        for moment in moments:
            if moment <= after:
                continue
            if attempt.reached >= j:
                if moment < attempt.times[j - 1]:
                    return True
            elif moment <= attempt.start + window:
                return True
    return False


# -- one person -------------------------------------------------------------------------------
@dataclass
class PersonResult:
    person_id: str
    attempts: list[Attempt]  # the clean ones
    measured: Attempt
    furthest: int
    breakdown_value: str


def person_attempts(events: Sequence[Event], person: Mapping[str, Any] | None,
                    funnel: Mapping[str, Any], window: dt.timedelta) -> list[Attempt]:
    """Every attempt of one person (excluded ones flagged), from their in-range events."""
    steps = funnel["steps"]
    order = funnel.get("order") or "ordered"
    step_matches = [{i for i, e in enumerate(events) if matches(e, step, person)}
                    for step in steps]
    moments = sorted({e.occurred_at for e in events})
    if order == "unordered":
        starts = sorted({events[i].occurred_at for i in set().union(*step_matches)})
        attempts = [unordered_attempt(events, step_matches, s, window) for s in starts]
    else:
        starts = sorted({events[i].occurred_at for i in step_matches[0]})
        attempts = [ordered_attempt(events, step_matches, s, window, order == "strict", moments)
                    for s in starts]
    exclusion_times = []
    for exclusion in funnel.get("exclusions") or []:
        i, j = exclusion["between"]
        rule = {"event": exclusion["event"], "where": exclusion.get("where")}
        exclusion_times.append(
            (int(i), int(j), [e.occurred_at for e in events if matches(e, rule, None)]))
    for attempt in attempts:
        attempt.excluded = is_excluded(attempt, exclusion_times, window)
    return attempts


def measured_attempt(attempts: list[Attempt]) -> Attempt:
    """Among the attempts reaching the furthest step, the one reaching it earliest; among
    those, the one that started latest."""
    furthest = max(a.reached for a in attempts)
    best = [a for a in attempts if a.reached == furthest]
    return min(best, key=lambda a: (a.times[furthest - 1], -a.start.timestamp()))


def touch_value(events: Sequence[Event], pool: Iterable[int], prop: str, last: bool) -> str | None:
    """The first (or last) instant with a non-null value of `prop`; the smallest value as
    text at that instant."""
    valued = [(events[i].occurred_at, as_text(events[i].properties.get(prop))) for i in pool]
    valued = [(t, v) for t, v in valued if v is not None]
    if not valued:
        return None
    moment = (max if last else min)(t for t, _ in valued)
    return min(v for t, v in valued if t == moment)


def breakdown_of(events: Sequence[Event], person: Mapping[str, Any] | None,
                 funnel: Mapping[str, Any], measured: Attempt) -> str:
    breakdown = funnel.get("breakdown")
    if breakdown is None:
        return "(all)"
    if isinstance(breakdown, str):
        return bucket(as_text((person or {}).get(breakdown)))
    prop = breakdown["event_property"]
    attribution = funnel.get("breakdown_attribution") or "first_touch"
    if isinstance(attribution, Mapping):
        n = int(attribution["step"])
        if measured.reached < n:
            return "(none)"
        # the events at the instant step N was reached that match step N (any step, for
        # unordered funnels, whose step N is "N of the steps")
        moment = measured.times[n - 1]
        order = funnel.get("order") or "ordered"
        steps = funnel["steps"] if order == "unordered" else [funnel["steps"][n - 1]]
        values = [as_text(e.properties.get(prop)) for e in events
                  if e.occurred_at == moment and any(matches(e, s, person) for s in steps)]
        values = [v for v in values if v is not None]
        return bucket(min(values) if values else None)
    if (funnel.get("order") or "ordered") == "strict":
        pool: Iterable[int] = range(len(events))
    else:
        pool = [i for i, e in enumerate(events)
                if any(matches(e, step, person) for step in funnel["steps"])]
    return bucket(touch_value(events, pool, prop, last=attribution == "last_touch"))


def evaluate_person(person_id: str, events: Sequence[Event], person: Mapping[str, Any] | None,
                    funnel: Mapping[str, Any], window: dt.timedelta) -> PersonResult | None:
    """None when the person is not in the funnel (no attempt, or every one excluded)."""
    clean = [a for a in person_attempts(events, person, funnel, window) if not a.excluded]
    if not clean:
        return None
    measured = measured_attempt(clean)
    return PersonResult(person_id=person_id, attempts=clean, measured=measured,
                        furthest=measured.reached,
                        breakdown_value=breakdown_of(events, person, funnel, measured))


# -- the marts --------------------------------------------------------------------------------
def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def persons_rows(name: str, results: list[PersonResult], n: int) -> list[dict]:
    rows = []
    for r in results:
        row = {"funnel_name": name, "breakdown_value": r.breakdown_value,
               "person_id": r.person_id, "entered_at": r.measured.start,
               "furthest_step": r.furthest, "is_converted": r.furthest == n}
        for k in range(1, MAX_STEPS + 1):
            row[f"step_{k}_at"] = r.measured.times[k - 1] if k <= r.furthest else None
        rows.append(row)
    return rows


def steps_rows(funnel: Mapping[str, Any], results: list[PersonResult]) -> list[dict]:
    name, steps = funnel["name"], funnel["steps"]
    values = {r.breakdown_value for r in results}
    if funnel.get("breakdown") is None:
        values = {"(all)"}
    rows = []
    for value in sorted(values):
        members = [r for r in results if r.breakdown_value == value]
        reached = [sum(1 for r in members if r.furthest >= k) for k in range(1, len(steps) + 1)]
        for k in range(1, len(steps) + 1):
            here = reached[k - 1]
            before = reached[k - 2] if k > 1 else None
            seconds = [
                (r.measured.times[k - 1] - r.measured.times[k - 2]).total_seconds()
                for r in members if k > 1 and r.furthest >= k
            ]
            rows.append({
                "funnel_name": name, "breakdown_value": value, "step_number": k,
                "step_event": steps[k - 1]["event"], "persons_reached": here,
                "conversion_from_previous": (1.0 if here else None) if k == 1
                else (here / before if before else None),
                "conversion_from_first": here / reached[0] if reached[0] else None,
                "persons_dropped": 0 if k == 1 else before - here,
                "median_seconds_from_previous": percentile_cont(seconds, 0.5),
                "avg_seconds_from_previous": sum(seconds) / len(seconds) if seconds else None,
                "p90_seconds_from_previous": percentile_cont(seconds, 0.9),
            })
    return rows


def period_start(moment: dt.datetime, period: str) -> dt.date:
    day = moment.astimezone(UTC).date()
    return day - dt.timedelta(days=day.weekday()) if period == "week" else day


def trends_rows(funnel: Mapping[str, Any], results: list[PersonResult], window: dt.timedelta,
                data_end: dt.datetime) -> list[dict]:
    """Every period in which some clean attempt starts: who entered, who converted from an
    entry in that period, and whether the period plus the window lies inside the data."""
    n = len(funnel["steps"])
    _, high = date_bounds(funnel)
    funnel_end = min(data_end, high) if high is not None else data_end
    entered: dict[tuple[str, str, dt.date], set[str]] = {}
    converted: dict[tuple[str, str, dt.date], set[str]] = {}
    for r in results:
        for attempt in r.attempts:
            for period in PERIODS:
                key = (r.breakdown_value, period, period_start(attempt.start, period))
                entered.setdefault(key, set()).add(r.person_id)
                if attempt.reached == n:
                    converted.setdefault(key, set()).add(r.person_id)
    rows = []
    for key in sorted(entered):
        value, period, start = key
        done = len(converted.get(key, ()))
        rows.append({
            "funnel_name": funnel["name"], "breakdown_value": value, "period": period,
            "period_start": start, "persons_entered": len(entered[key]),
            "persons_converted": done, "conversion_rate": done / len(entered[key]),
            "is_complete": midnight(start) + PERIODS[period] + window <= funnel_end,
        })
    return rows


def bin_count(samples: int) -> int:
    """The smallest b >= 1 with b**3 >= samples, at most 60 (ceil of the cube root, exactly)."""
    b = 1
    while b ** 3 < samples:
        b += 1
    return min(b, MAX_BINS)


def histogram_rows(funnel: Mapping[str, Any], results: list[PersonResult]) -> list[dict]:
    """PostHog's time-to-convert histogram from step 1 to each step k >= 2."""
    rows = []
    for k in range(2, len(funnel["steps"]) + 1):
        samples = [(r.measured.times[k - 1] - r.measured.start).total_seconds()
                   for r in results if r.furthest >= k]
        if not samples:
            continue
        low, high = math.floor(min(samples)), math.ceil(max(samples))
        bins = bin_count(len(samples))
        width = -(-(high - low) // bins) or FALLBACK_BIN_WIDTH
        for i in range(bins + 1):
            rows.append({
                "funnel_name": funnel["name"], "step_number": k, "bin_number": i,
                "bin_from_seconds": low + i * width, "bin_to_seconds": low + (i + 1) * width,
                "persons": sum(1 for s in samples if math.floor((s - low) / width) == i),
            })
    return rows


def run_funnel(events: Iterable[Event], persons: Mapping[str, Mapping[str, Any]],
               funnel: Mapping[str, Any], data_end: dt.datetime) -> Output:
    """The four marts' rows for one funnel definition over these events and persons.
    `data_end` is the warehouse's data end (dim_persons' definition), for trends."""
    window = window_of(funnel)
    low, high = date_bounds(funnel)
    by_person: dict[str, list[Event]] = {}
    for event in events:
        if in_range(event.occurred_at, low, high):
            by_person.setdefault(event.person_id, []).append(event)
    results = []
    for person_id in sorted(by_person):
        result = evaluate_person(person_id, by_person[person_id], persons.get(person_id),
                                 funnel, window)
        if result is not None:
            results.append(result)
    n = len(funnel["steps"])
    return Output(
        persons=persons_rows(funnel["name"], results, n),
        steps=steps_rows(funnel, results),
        trends=trends_rows(funnel, results, window, data_end),
        time_to_convert=histogram_rows(funnel, results),
    )
