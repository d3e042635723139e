"""Funnel cases for the reference (tests/funnel_reference.py) and the marts.

- HAND_CASES: name -> (events, persons, funnel, expected), one or more per rule of
  SEMANTICS.md "Funnels" and docs/funnels.md, the expected numbers worked out by hand in
  the comment above each case. `expected` lists what the case is about:
  - "persons": person -> the fct_funnel_persons fields to check; the set of persons in
    the funnel must be exactly these keys;
  - "steps": (breakdown_value, step_number) -> fct_funnel_steps fields; exactly these rows;
  - "trends": (breakdown_value, period, period_start) -> fields; exactly these rows;
  - "histogram": (step_number, bin_number) -> fields; exactly these rows.
  Times are written "YYYY-MM-DD HH:MM:SS[.f]" (UTC). A case may set "data_end" (the
  data's end for trends); otherwise it is the case's latest event.
- Hypothesis strategies for random small cases (`random_case`, `random_batch`): a few
  persons, events a..d on a coarse time grid (ties often), a property `p` in {1, 2, "x",
  "", "1", missing}, a person column `plan` in {trial, pro, null}, and random funnels (1-4
  steps with repeats, `where` on p, `where_person` on plan, all three orders, windows on
  the grid, date ranges, breakdowns, attributions, exclusions).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from hypothesis import strategies as st

from tests.funnel_reference import Event, Output

UTC = dt.UTC

# (person, event name, time, properties)
RawEvent = tuple[str, str, str, dict]


@dataclass(frozen=True)
class Case:
    """One funnel over its own persons and events (person ids local to the case)."""

    events: list[Event]
    persons: dict[str, dict[str, Any]]
    funnel: dict[str, Any]
    expected: dict[str, Any] | None = None
    data_end: dt.datetime | None = None
    seed: int | None = None

    def own_data_end(self) -> dt.datetime:
        return self.data_end or max(e.occurred_at for e in self.events)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def hand_case(name: str, rows: list[RawEvent], funnel: dict[str, Any], expected: dict,
              persons: dict[str, dict] | None = None, data_end: str | None = None) -> Case:
    events = [Event(person_id=p, event_name=n, occurred_at=at(t), properties=props,
                    event_id=f"{name}-{i}") for i, (p, n, t, props) in enumerate(rows)]
    people = {p: {"plan": None} for p, *_ in rows}
    people.update(persons or {})
    return Case(events=events, persons=people, funnel={"name": name, **funnel},
                expected=expected, data_end=at(data_end) if data_end else None)


def steps_expected(reached: list[int], value: str = "(all)") -> dict:
    """The counts and rates of fct_funnel_steps that follow from persons_reached alone
    (SEMANTICS.md "Rates"; each case's comment gives the reached counts)."""
    rows = {}
    for k, here in enumerate(reached, start=1):
        before = reached[k - 2] if k > 1 else None
        rows[(value, k)] = {
            "persons_reached": here,
            "conversion_from_previous": 1.0 if k == 1 else (here / before if before else None),
            "conversion_from_first": here / reached[0] if reached[0] else None,
            "persons_dropped": 0 if k == 1 else before - here,
        }
    return rows


HAND: dict[str, Case] = {}


def add(case: Case) -> None:
    HAND[case.funnel["name"]] = case


# -- date range ------------------------------------------------------------------------------
# a -> b, window 1 day, dates 2026-01-06..2026-01-07, so the range is
# [01-06 00:00, 01-08 00:00).
# p1: a at 01-06 00:00:00 (the first instant: in), b 30 s later -> 2 steps, 30 s.
# p2: a at 01-05 23:59:59 (out: ignored), b in range -> no step 1 in range: not in funnel.
# p3: a at 01-07 23:59:59 (in), b at 01-08 00:00:00 (out; the window does not extend
#     date_to) -> 1 step.
# p4: a at 01-08 00:00:00 (out) -> not in funnel.
# reached 2, 1; step 2: one time, 30 s (median = avg = p90 = 30).
add(hand_case("date_range_boundaries", [
    ("p1", "a", "2026-01-06 00:00:00", {}), ("p1", "b", "2026-01-06 00:00:30", {}),
    ("p2", "a", "2026-01-05 23:59:59", {}), ("p2", "b", "2026-01-06 00:10:00", {}),
    ("p3", "a", "2026-01-07 23:59:59", {}), ("p3", "b", "2026-01-08 00:00:00", {}),
    ("p4", "a", "2026-01-08 00:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "window_days": 1,
    "date_from": "2026-01-06", "date_to": "2026-01-07"}, {
    "persons": {
        "p1": {"furthest_step": 2, "entered_at": "2026-01-06 00:00:00",
               "step_2_at": "2026-01-06 00:00:30", "is_converted": True},
        "p3": {"furthest_step": 1, "entered_at": "2026-01-07 23:59:59", "step_2_at": None,
               "is_converted": False},
    },
    "steps": {**steps_expected([2, 1]),
              ("(all)", 2): {"persons_reached": 1, "median_seconds_from_previous": 30.0,
                             "avg_seconds_from_previous": 30.0,
                             "p90_seconds_from_previous": 30.0}},
}))

# a -> b, nobody does a (p1 only does z): no person rows, and without a breakdown the
# funnel still has its 2 rows: reached 0, 0; every rate has a zero denominator (null, step
# 1's conversion_from_previous included: nobody entered); dropped 0, 0.
add(hand_case("nobody_entered", [
    ("p1", "z", "2026-01-05 10:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}]}, {
    "persons": {},
    "steps": {("(all)", k): {"persons_reached": 0, "conversion_from_previous": None,
                             "conversion_from_first": None, "persons_dropped": 0,
                             "median_seconds_from_previous": None,
                             "avg_seconds_from_previous": None,
                             "p90_seconds_from_previous": None} for k in (1, 2)},
    "trends": {},
    "histogram": {},
}))

# -- entry and the best / measured attempt ---------------------------------------------------
# a -> b -> c, window 1 hour.
# p1: a 10:00, b 10:10, a 10:30, b 10:40, c 11:20. The 10:00 attempt cannot use c (11:20
#     is after 11:00): 2 steps. The 10:30 attempt: b 10:40, c 11:20 (<= 11:30): 3 steps.
#     Measured: the 10:30 attempt (the only one with 3); 10:30 -> 10:40 -> 11:20.
# p2: a 10:00, a 10:10, b 10:20. Both attempts reach 2 at 10:20; the later start wins
#     (a, a, b: b minus the second a): entered 10:10, 600 s to step 2.
# p3: a 10:00, b 10:05, a 12:00, b 12:30. Both attempts reach 2; the first at 10:05,
#     the second at 12:30: the earlier wins, entered 10:00.
# reached 3, 3, 1. Step 2 times: p1 600, p2 600, p3 300 -> sorted 300, 600, 600:
# median 600, avg 500, p90 at rank 0.9 * 2 = 1.8 -> 600. Step 3: p1 2400 s (10:40->11:20).
add(hand_case("best_and_measured_attempt", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "b", "2026-01-05 10:10:00", {}),
    ("p1", "a", "2026-01-05 10:30:00", {}), ("p1", "b", "2026-01-05 10:40:00", {}),
    ("p1", "c", "2026-01-05 11:20:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p2", "b", "2026-01-05 10:20:00", {}),
    ("p2", "a", "2026-01-05 10:10:00", {}),
    ("p3", "a", "2026-01-05 10:00:00", {}), ("p3", "b", "2026-01-05 10:05:00", {}),
    ("p3", "a", "2026-01-05 12:00:00", {}), ("p3", "b", "2026-01-05 12:30:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "window_hours": 1}, {
    "persons": {
        "p1": {"furthest_step": 3, "entered_at": "2026-01-05 10:30:00",
               "step_1_at": "2026-01-05 10:30:00", "step_2_at": "2026-01-05 10:40:00",
               "step_3_at": "2026-01-05 11:20:00", "is_converted": True},
        "p2": {"furthest_step": 2, "entered_at": "2026-01-05 10:10:00",
               "step_2_at": "2026-01-05 10:20:00", "step_3_at": None},
        "p3": {"furthest_step": 2, "entered_at": "2026-01-05 10:00:00",
               "step_2_at": "2026-01-05 10:05:00"},
    },
    "steps": {**steps_expected([3, 3, 1]),
              ("(all)", 2): {"persons_reached": 3, "median_seconds_from_previous": 600.0,
                             "avg_seconds_from_previous": 500.0,
                             "p90_seconds_from_previous": 600.0},
              ("(all)", 3): {"persons_reached": 1, "median_seconds_from_previous": 2400.0,
                             "avg_seconds_from_previous": 2400.0,
                             "p90_seconds_from_previous": 2400.0,
                             "conversion_from_previous": 1 / 3}},
}))

# -- ordered, equal timestamps ---------------------------------------------------------------
# a -> b. p1: a and b at the same instant: in order (2 steps, 0 s). p2: b 10:00 then a
# 10:01: nothing after a, 1 step. reached 2, 1; step 2 median 0.
add(hand_case("ordered_equal_timestamps", [
    ("p1", "b", "2026-01-05 10:00:00", {}), ("p1", "a", "2026-01-05 10:00:00", {}),
    ("p2", "b", "2026-01-05 10:00:00", {}), ("p2", "a", "2026-01-05 10:01:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}]}, {
    "persons": {"p1": {"furthest_step": 2, "step_2_at": "2026-01-05 10:00:00"},
                "p2": {"furthest_step": 1, "entered_at": "2026-01-05 10:01:00"}},
    "steps": {**steps_expected([2, 1]),
              ("(all)", 2): {"persons_reached": 1, "median_seconds_from_previous": 0.0}},
}))

# -- strict ----------------------------------------------------------------------------------
# strict a -> b -> c, window 1 day.
# p1: a 10:00, b 10:01, b 10:02, c 10:03. a, b(10:01) then the repeat b(10:02) lies
#     between b and c: broken. b(10:02) as step 2 has b(10:01) between a and it: broken.
#     2 steps (PostHog's current query would let the repeat pass: 3).
# p2: a 10:00 and x 10:00 (same instant), b 10:01, c 10:02: x shares a's instant, never
#     between: 3 steps.
# p3: a 10:00, a 10:01, b 10:02. The 10:00 attempt: a(10:01) between a and b: 1 step.
#     The 10:01 attempt: 2 steps. Measured: 10:01.
# reached 3, 3, 1.
add(hand_case("strict_repeat_breaks", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "b", "2026-01-05 10:01:00", {}),
    ("p1", "b", "2026-01-05 10:02:00", {}), ("p1", "c", "2026-01-05 10:03:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p2", "x", "2026-01-05 10:00:00", {}),
    ("p2", "b", "2026-01-05 10:01:00", {}), ("p2", "c", "2026-01-05 10:02:00", {}),
    ("p3", "a", "2026-01-05 10:00:00", {}), ("p3", "a", "2026-01-05 10:01:00", {}),
    ("p3", "b", "2026-01-05 10:02:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "order": "strict",
    "window_days": 1}, {
    "persons": {"p1": {"furthest_step": 2, "step_2_at": "2026-01-05 10:01:00"},
                "p2": {"furthest_step": 3, "step_3_at": "2026-01-05 10:02:00"},
                "p3": {"furthest_step": 2, "entered_at": "2026-01-05 10:01:00",
                       "step_2_at": "2026-01-05 10:02:00"}},
    "steps": steps_expected([3, 3, 1]),
}))

# strict a -> b -> c, docs/funnels.md's example: a and b at one instant 10:00, then b
# 10:01, then c 10:02. a | b(10:01) | c: nothing strictly between a and b(10:01) (b(10:00)
# shares a's instant), nothing between b(10:01) and c: 3 steps. Filling a and b at 10:00
# reaches step 2 at 10:00 (then b(10:01) breaks it), so step 2 is reached at 10:00 (the
# earliest choice) and step 3 at 10:02: 0 s then 120 s.
# p2 has the same events listed in the other order (load order must not matter).
# reached 2 persons at every step; step 3 time 120 s.
add(hand_case("strict_instant_example", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "b", "2026-01-05 10:00:00", {}),
    ("p1", "b", "2026-01-05 10:01:00", {}), ("p1", "c", "2026-01-05 10:02:00", {}),
    ("p2", "c", "2026-01-05 10:02:00", {}), ("p2", "b", "2026-01-05 10:01:00", {}),
    ("p2", "b", "2026-01-05 10:00:00", {}), ("p2", "a", "2026-01-05 10:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "order": "strict"}, {
    "persons": {p: {"furthest_step": 3, "entered_at": "2026-01-05 10:00:00",
                    "step_2_at": "2026-01-05 10:00:00", "step_3_at": "2026-01-05 10:02:00"}
                for p in ("p1", "p2")},
    "steps": {**steps_expected([2, 2, 2]),
              ("(all)", 2): {"persons_reached": 2, "median_seconds_from_previous": 0.0},
              ("(all)", 3): {"persons_reached": 2, "median_seconds_from_previous": 120.0,
                             "avg_seconds_from_previous": 120.0}},
}))

# -- unordered -------------------------------------------------------------------------------
# unordered a, b, c, window 1 hour.
# p1: c 10:00, a 10:10, b 10:20: the 10:00 attempt fills 1, 2, 3 steps at 10:00, 10:10,
#     10:20: 3 steps, 600 s and 600 s.
# p2: b 10:00, b 10:05: two b fill only the step b: 1 step; both attempts reach it at
#     their start, the 10:00 one earliest: entered 10:00.
# p3: a 10:00, b 11:30, c 11:40: the 10:00 attempt sees only a (window to 11:00): 1; the
#     11:30 attempt: b, c: 2 steps at 11:30, 11:40. Measured: 11:30.
# reached 3, 2, 1; step 2 times p1 600, p3 600; step 3 p1 600.
add(hand_case("unordered_any_order", [
    ("p1", "c", "2026-01-05 10:00:00", {}), ("p1", "a", "2026-01-05 10:10:00", {}),
    ("p1", "b", "2026-01-05 10:20:00", {}),
    ("p2", "b", "2026-01-05 10:00:00", {}), ("p2", "b", "2026-01-05 10:05:00", {}),
    ("p3", "a", "2026-01-05 10:00:00", {}), ("p3", "b", "2026-01-05 11:30:00", {}),
    ("p3", "c", "2026-01-05 11:40:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "order": "unordered",
    "window_hours": 1}, {
    "persons": {"p1": {"furthest_step": 3, "entered_at": "2026-01-05 10:00:00",
                       "step_2_at": "2026-01-05 10:10:00", "step_3_at": "2026-01-05 10:20:00"},
                "p2": {"furthest_step": 1, "entered_at": "2026-01-05 10:00:00"},
                "p3": {"furthest_step": 2, "entered_at": "2026-01-05 11:30:00",
                       "step_2_at": "2026-01-05 11:40:00"}},
    "steps": {**steps_expected([3, 2, 1]),
              ("(all)", 2): {"persons_reached": 2, "step_event": "b",
                             "median_seconds_from_previous": 600.0},
              ("(all)", 3): {"persons_reached": 1, "step_event": "c",
                             "avg_seconds_from_previous": 600.0}},
}))

# unordered a, a: one event fills one step. p1: one a -> 1 step. p2: a 10:00, a 10:30 ->
# 2 steps, the second at 10:30. reached 2, 1.
add(hand_case("unordered_one_event_one_step", [
    ("p1", "a", "2026-01-05 10:00:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p2", "a", "2026-01-05 10:30:00", {}),
], {"steps": [{"event": "a"}, {"event": "a"}], "order": "unordered"}, {
    "persons": {"p1": {"furthest_step": 1},
                "p2": {"furthest_step": 2, "step_2_at": "2026-01-05 10:30:00"}},
    "steps": steps_expected([2, 1]),
}))

# -- window boundary -------------------------------------------------------------------------
# a -> b, window_seconds 3600. p1: b exactly 3600 s after a: counts (inclusive), 2 steps.
# p2: b 3601 s after: 1 step. reached 2, 1.
add(hand_case("window_boundary_inclusive", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "b", "2026-01-05 11:00:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p2", "b", "2026-01-05 11:00:01", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "window_seconds": 3600}, {
    "persons": {"p1": {"furthest_step": 2, "step_2_at": "2026-01-05 11:00:00"},
                "p2": {"furthest_step": 1}},
    "steps": steps_expected([2, 1]),
}))

# -- one event, one step ---------------------------------------------------------------------
# a -> a. p1: one a: 1 step. p2: two a at one instant: 2 steps (0 s). p3: a 10:00, a 10:05:
# the 10:00 attempt reaches 2 at 10:05, the 10:05 attempt only 1: entered 10:00.
# reached 3, 2.
add(hand_case("a_to_a_needs_two_events", [
    ("p1", "a", "2026-01-05 10:00:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p2", "a", "2026-01-05 10:00:00", {}),
    ("p3", "a", "2026-01-05 10:00:00", {}), ("p3", "a", "2026-01-05 10:05:00", {}),
], {"steps": [{"event": "a"}, {"event": "a"}]}, {
    "persons": {"p1": {"furthest_step": 1},
                "p2": {"furthest_step": 2, "step_2_at": "2026-01-05 10:00:00"},
                "p3": {"furthest_step": 2, "entered_at": "2026-01-05 10:00:00",
                       "step_2_at": "2026-01-05 10:05:00"}},
    "steps": steps_expected([3, 2]),
}))

# -- simultaneous events, load order ---------------------------------------------------------
# a -> b -> c, all three at 10:00 for p1 (listed c, b, a) and p2 (listed a, b, c): both
# 3 steps at 10:00, whatever the order the rows were loaded in. reached 2, 2, 2.
add(hand_case("simultaneous_any_load_order", [
    ("p1", "c", "2026-01-05 10:00:00", {}), ("p1", "b", "2026-01-05 10:00:00", {}),
    ("p1", "a", "2026-01-05 10:00:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p2", "b", "2026-01-05 10:00:00", {}),
    ("p2", "c", "2026-01-05 10:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}]}, {
    "persons": {p: {"furthest_step": 3, "step_3_at": "2026-01-05 10:00:00"}
                for p in ("p1", "p2")},
    "steps": steps_expected([2, 2, 2]),
}))

# -- rates -----------------------------------------------------------------------------------
# a -> b -> c: five persons do a, three of them b, one of them c.
# reached 5, 3, 1: from previous 1.0, 3/5 = 0.6, 1/3; from first 1.0, 0.6, 0.2;
# dropped 0, 2, 2.
add(hand_case("rates", [
    *[(f"p{i}", "a", "2026-01-05 10:00:00", {}) for i in range(1, 6)],
    *[(f"p{i}", "b", "2026-01-05 10:01:00", {}) for i in range(1, 4)],
    ("p1", "c", "2026-01-05 10:02:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}]}, {
    "persons": {"p1": {"furthest_step": 3}, "p2": {"furthest_step": 2},
                "p3": {"furthest_step": 2}, "p4": {"furthest_step": 1},
                "p5": {"furthest_step": 1}},
    "steps": {("(all)", 1): {"persons_reached": 5, "conversion_from_previous": 1.0,
                             "conversion_from_first": 1.0, "persons_dropped": 0},
              ("(all)", 2): {"persons_reached": 3, "conversion_from_previous": 0.6,
                             "conversion_from_first": 0.6, "persons_dropped": 2},
              ("(all)", 3): {"persons_reached": 1, "conversion_from_previous": 1 / 3,
                             "conversion_from_first": 0.2, "persons_dropped": 2}},
}))

# a -> b: four persons take 100, 200, 400 and 1000 s to b. Sorted 100, 200, 400, 1000:
# median at rank 0.5 * 3 = 1.5 -> 200 + 0.5 * 200 = 300; p90 at rank 2.7 -> 400 + 0.7 *
# 600 = 820; average 1700 / 4 = 425.
add(hand_case("time_percentiles", [
    *[(f"p{i}", "a", "2026-01-05 10:00:00", {}) for i in range(1, 5)],
    ("p1", "b", "2026-01-05 10:01:40", {}), ("p2", "b", "2026-01-05 10:03:20", {}),
    ("p3", "b", "2026-01-05 10:06:40", {}), ("p4", "b", "2026-01-05 10:16:40", {}),
], {"steps": [{"event": "a"}, {"event": "b"}]}, {
    "persons": {f"p{i}": {"furthest_step": 2} for i in range(1, 5)},
    "steps": {**steps_expected([4, 4]),
              ("(all)", 2): {"persons_reached": 4, "median_seconds_from_previous": 300.0,
                             "avg_seconds_from_previous": 425.0,
                             "p90_seconds_from_previous": 820.0}},
}))

# -- time to convert -------------------------------------------------------------------------
# a -> b: a 10:00, a 10:30, b 11:00. Both attempts reach b at 11:00; the one that started
# latest is measured: entered 10:30, 1800 s (b minus the second a, as PostHog).
# Histogram of step 2: one sample 1800: from 1800, to 1800, b = 1 bin, width
# ceil(0 / 1) = 0 -> 60: bins [1800, 1860) 1 person, [1860, 1920) 0.
add(hand_case("time_to_convert_a_a_b", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "a", "2026-01-05 10:30:00", {}),
    ("p1", "b", "2026-01-05 11:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}]}, {
    "persons": {"p1": {"furthest_step": 2, "entered_at": "2026-01-05 10:30:00"}},
    "steps": {**steps_expected([1, 1]),
              ("(all)", 2): {"persons_reached": 1, "median_seconds_from_previous": 1800.0}},
    "histogram": {(2, 0): {"bin_from_seconds": 1800, "bin_to_seconds": 1860, "persons": 1},
                  (2, 1): {"bin_from_seconds": 1860, "bin_to_seconds": 1920, "persons": 0}},
}))

# a -> b -> c. Eight persons reach b 0, 10, ..., 70 s after a (p0..p7); p0 reaches c 100 s
# after a, p1 205.5 s after a.
# Step 2: N = 8 samples -> b = 2 bins (2^3 = 8 >= 8); from 0, to 70, width ceil(70/2) = 35:
# [0, 35): 0, 10, 20, 30 -> 4; [35, 70): 40, 50, 60 -> 3; [70, 105): 70 -> 1.
# Step 3 (from step 1): samples 100 and 205.5, N = 2 -> b = 2; from 100, to ceil(205.5) =
# 206, width ceil(106 / 2) = 53: [100, 153) 1, [153, 206) 1, [206, 259) 0.
add(hand_case("time_to_convert_bins", [
    *[(f"p{i}", "a", "2026-01-05 10:00:00", {}) for i in range(8)],
    *[(f"p{i}", "b", (at("2026-01-05 10:00:00") + dt.timedelta(seconds=10 * i))
       .strftime("%Y-%m-%d %H:%M:%S"), {}) for i in range(8)],
    ("p0", "c", "2026-01-05 10:01:40", {}), ("p1", "c", "2026-01-05 10:03:25.5", {}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}]}, {
    "persons": {**{f"p{i}": {"furthest_step": 2} for i in range(2, 8)},
                "p0": {"furthest_step": 3}, "p1": {"furthest_step": 3,
                                                   "step_3_at": "2026-01-05 10:03:25.5"}},
    "steps": steps_expected([8, 8, 2]),
    "histogram": {(2, 0): {"bin_from_seconds": 0, "bin_to_seconds": 35, "persons": 4},
                  (2, 1): {"bin_from_seconds": 35, "bin_to_seconds": 70, "persons": 3},
                  (2, 2): {"bin_from_seconds": 70, "bin_to_seconds": 105, "persons": 1},
                  (3, 0): {"bin_from_seconds": 100, "bin_to_seconds": 153, "persons": 1},
                  (3, 1): {"bin_from_seconds": 153, "bin_to_seconds": 206, "persons": 1},
                  (3, 2): {"bin_from_seconds": 206, "bin_to_seconds": 259, "persons": 0}},
}))

# a -> b: 27 persons p00..p26 reach b 0, 1, ..., 26 s after a. N = 27 -> b = 3 bins
# exactly (3^3 = 27; a cube root taken as exp(ln 27 / 3) is 3.0000000000000004 and would
# ceil to 4). from 0, to 26, width ceil(26 / 3) = 9: [0, 9) 9 persons, [9, 18) 9,
# [18, 27) 9, [27, 36) 0.
add(hand_case("time_to_convert_cube_bins", [
    *[(f"p{i:02d}", "a", "2026-01-05 10:00:00", {}) for i in range(27)],
    *[(f"p{i:02d}", "b", f"2026-01-05 10:00:{i:02d}", {}) for i in range(27)],
], {"steps": [{"event": "a"}, {"event": "b"}]}, {
    "persons": {f"p{i:02d}": {"furthest_step": 2} for i in range(27)},
    "steps": steps_expected([27, 27]),
    "histogram": {(2, 0): {"bin_from_seconds": 0, "bin_to_seconds": 9, "persons": 9},
                  (2, 1): {"bin_from_seconds": 9, "bin_to_seconds": 18, "persons": 9},
                  (2, 2): {"bin_from_seconds": 18, "bin_to_seconds": 27, "persons": 9},
                  (2, 3): {"bin_from_seconds": 27, "bin_to_seconds": 36, "persons": 0}},
}))

# -- breakdown -------------------------------------------------------------------------------
# a -> b by event property p, first touch: the first non-null p over the person's events
# that match a step.
# p1: x{p:9} 09:00 matches no step (ignored), a 10:00 without p, b{p:2} 10:05 -> '2'.
# p2: a{p:1} 10:00, b{p:2} 10:05 -> '1'.
# p3: a{p:'x'} and a{p:1} at one instant -> the smallest as text, '1'. 1 step.
# p4: a without p -> '(none)'.
# p5: a{p:''} 10:00, b{p:1} 10:01 -> the first value is '' -> '(none)'.
# Buckets: '1': p2 (2 steps, 300 s), p3 (1) -> reached 2, 1. '2': p1 -> 1, 1.
# '(none)': p4 (1), p5 (2 steps, 60 s) -> 2, 1.
add(hand_case("breakdown_event_property_first_touch", [
    ("p1", "x", "2026-01-05 09:00:00", {"p": 9}), ("p1", "a", "2026-01-05 10:00:00", {}),
    ("p1", "b", "2026-01-05 10:05:00", {"p": 2}),
    ("p2", "a", "2026-01-05 10:00:00", {"p": 1}), ("p2", "b", "2026-01-05 10:05:00", {"p": 2}),
    ("p3", "a", "2026-01-05 10:00:00", {"p": "x"}), ("p3", "a", "2026-01-05 10:00:00", {"p": 1}),
    ("p4", "a", "2026-01-05 10:00:00", {}),
    ("p5", "a", "2026-01-05 10:00:00", {"p": ""}), ("p5", "b", "2026-01-05 10:01:00", {"p": 1}),
], {"steps": [{"event": "a"}, {"event": "b"}], "breakdown": {"event_property": "p"}}, {
    "persons": {"p1": {"breakdown_value": "2", "furthest_step": 2},
                "p2": {"breakdown_value": "1", "furthest_step": 2},
                "p3": {"breakdown_value": "1", "furthest_step": 1},
                "p4": {"breakdown_value": "(none)", "furthest_step": 1},
                "p5": {"breakdown_value": "(none)", "furthest_step": 2}},
    "steps": {**steps_expected([2, 1], "1"), **steps_expected([1, 1], "2"),
              **steps_expected([2, 1], "(none)"),
              ("1", 2): {"persons_reached": 1, "median_seconds_from_previous": 300.0},
              ("(none)", 2): {"persons_reached": 1, "median_seconds_from_previous": 60.0}},
}))

# strict a -> b by p: strict funnels take the first value over every event: x{p:9} at
# 09:00 -> '9' (x is before a, so not between a and b: 2 steps).
add(hand_case("breakdown_strict_every_event", [
    ("p1", "x", "2026-01-05 09:00:00", {"p": 9}), ("p1", "a", "2026-01-05 10:00:00", {"p": 1}),
    ("p1", "b", "2026-01-05 10:01:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "order": "strict",
    "breakdown": {"event_property": "p"}}, {
    "persons": {"p1": {"breakdown_value": "9", "furthest_step": 2}},
    "steps": steps_expected([1, 1], "9"),
}))

# a -> b by the dim_persons column plan: p1 trial (2 steps), p2 pro (1), p3 null and p4 ''
# share '(none)' (1 each). trial: 1, 1; pro: 1, 0; (none): 2, 0.
add(hand_case("breakdown_person_column", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "b", "2026-01-05 10:01:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p3", "a", "2026-01-05 10:00:00", {}),
    ("p4", "a", "2026-01-05 10:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "breakdown": "plan"}, {
    "persons": {"p1": {"breakdown_value": "trial"}, "p2": {"breakdown_value": "pro"},
                "p3": {"breakdown_value": "(none)"}, "p4": {"breakdown_value": "(none)"}},
    "steps": {**steps_expected([1, 1], "trial"), **steps_expected([1, 0], "pro"),
              **steps_expected([2, 0], "(none)")},
}, persons={"p1": {"plan": "trial"}, "p2": {"plan": "pro"}, "p3": {"plan": None},
            "p4": {"plan": ""}}))

# a -> b -> c by p, last touch: the last instant with a value.
# p1: a{p:1} 10:00, b{p:2} 10:01, c (no p) 10:02 -> '2'.
# p2: a{p:1} 10:00, b{p:'x'} and b{p:2} at 10:01 -> smallest at that instant, '2'.
add(hand_case("attribution_last_touch", [
    ("p1", "a", "2026-01-05 10:00:00", {"p": 1}), ("p1", "b", "2026-01-05 10:01:00", {"p": 2}),
    ("p1", "c", "2026-01-05 10:02:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {"p": 1}), ("p2", "b", "2026-01-05 10:01:00", {"p": "x"}),
    ("p2", "b", "2026-01-05 10:01:00", {"p": 2}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}],
    "breakdown": {"event_property": "p"}, "breakdown_attribution": "last_touch"}, {
    "persons": {"p1": {"breakdown_value": "2", "furthest_step": 3},
                "p2": {"breakdown_value": "2", "furthest_step": 2}},
    "steps": steps_expected([2, 2, 1], "2"),
}))

# a -> b by p, attributed to step 2.
# p1: a{p:1} 10:00, b{p:2} 10:05, b{p:3} 10:10: step 2 is reached at 10:05 by b{p:2} -> '2'.
# p2: a{p:1} only: furthest step 1 < 2 -> '(none)'.
# '2': 1, 1; '(none)': 1, 0.
add(hand_case("attribution_step", [
    ("p1", "a", "2026-01-05 10:00:00", {"p": 1}), ("p1", "b", "2026-01-05 10:05:00", {"p": 2}),
    ("p1", "b", "2026-01-05 10:10:00", {"p": 3}),
    ("p2", "a", "2026-01-05 10:00:00", {"p": 1}),
], {"steps": [{"event": "a"}, {"event": "b"}], "breakdown": {"event_property": "p"},
    "breakdown_attribution": {"step": 2}}, {
    "persons": {"p1": {"breakdown_value": "2"}, "p2": {"breakdown_value": "(none)"}},
    "steps": {**steps_expected([1, 1], "2"), **steps_expected([1, 0], "(none)")},
}))

# a{where p = 1} -> a, by p attributed to step 2: a{p:1} and a{p:2} at one instant.
# Step 2 is reached at that instant; both events match step 2 (a, no filter), so the
# value is the smallest of theirs: '1' (docs/funnels.md: the events at step N's instant
# that match step N, not only those some matching would use for it).
add(hand_case("attribution_step_reads_the_events_matching_step_n", [
    ("p1", "a", "2026-01-05 10:00:00", {"p": 1}), ("p1", "a", "2026-01-05 10:00:00", {"p": 2}),
], {"steps": [{"event": "a", "where": {"p": 1}}, {"event": "a"}],
    "breakdown": {"event_property": "p"}, "breakdown_attribution": {"step": 2}}, {
    "persons": {"p1": {"breakdown_value": "1", "furthest_step": 2}},
    "steps": steps_expected([1, 1], "1"),
}))

# -- filters ---------------------------------------------------------------------------------
# a{where p = 1} -> b{where_person plan = pro}.
# p1 (pro): a{p:1}, b -> 2. p2 (trial): a{p:'1'} (text '1' = 1 as text) matches, b does
# not (plan trial) -> 1. p3 (pro): a{p:2} matches no step -> not in funnel. p4 (pro): a
# without p -> not in funnel. reached 2, 1.
add(hand_case("where_filters", [
    ("p1", "a", "2026-01-05 10:00:00", {"p": 1}), ("p1", "b", "2026-01-05 10:01:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {"p": "1"}), ("p2", "b", "2026-01-05 10:01:00", {}),
    ("p3", "a", "2026-01-05 10:00:00", {"p": 2}), ("p3", "b", "2026-01-05 10:01:00", {}),
    ("p4", "a", "2026-01-05 10:00:00", {}), ("p4", "b", "2026-01-05 10:01:00", {}),
], {"steps": [{"event": "a", "where": {"p": 1}},
              {"event": "b", "where_person": {"plan": "pro"}}]}, {
    "persons": {"p1": {"furthest_step": 2}, "p2": {"furthest_step": 1}},
    "steps": steps_expected([2, 1]),
}, persons={"p1": {"plan": "pro"}, "p2": {"plan": "trial"}, "p3": {"plan": "pro"},
            "p4": {"plan": "pro"}}))

# -- exclusions ------------------------------------------------------------------------------
# PostHog's test_funnel_exclusion_no_end_event: a (signed up) -> b (paid), window 1 day,
# exclusion x between [1, 2].
# p1: a 01:00, b 02:00 -> 2. p2: a 03:00, x 03:30, b 04:00 -> x between: excluded, its
# only attempt: not in funnel. p3: a 05:00, x 06:00, no b -> x within the window:
# excluded, not in funnel. p4: a 07:00, x next day 08:00 (25 h) -> not excluded: 1 step.
# reached 2, 1 (PostHog's counts).
add(hand_case("exclusion_posthog_no_end_event", [
    ("p1", "a", "2026-01-05 01:00:00", {}), ("p1", "b", "2026-01-05 02:00:00", {}),
    ("p2", "a", "2026-01-05 03:00:00", {}), ("p2", "x", "2026-01-05 03:30:00", {}),
    ("p2", "b", "2026-01-05 04:00:00", {}),
    ("p3", "a", "2026-01-05 05:00:00", {}), ("p3", "x", "2026-01-05 06:00:00", {}),
    ("p4", "a", "2026-01-05 07:00:00", {}), ("p4", "x", "2026-01-06 08:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "window_days": 1,
    "exclusions": [{"event": "x", "between": [1, 2]}]}, {
    "persons": {"p1": {"furthest_step": 2}, "p4": {"furthest_step": 1}},
    "steps": steps_expected([2, 1]),
}))

# a -> b, window 1 hour, exclusion x between [1, 2].
# p1: x at a's instant 10:00, b 10:10 -> not strictly after step 1: 2 steps.
# p2: a 10:00, x at b's instant 10:10 -> not strictly before step 2: 2 steps.
# p3: a 10:00, x 10:05, b 10:10 -> excluded, not in funnel.
# p4: a 10:00, x 10:05, a 10:20, b 10:30. The 10:00 attempt reaches b at 10:30 with x in
#     between: excluded. The 10:20 attempt: nothing between 10:20 and 10:30: 2 steps,
#     entered 10:20.
# p5: a 10:00, x 10:05, b 10:10, a 10:20. The excluded 10:00 attempt reached 2; the clean
#     10:20 attempt reaches 1 and decides: 1 step, entered 10:20.
# p6: a 10:00, x 11:00 (exactly the window), no b -> excluded (<= start + window).
# in funnel: p1, p2, p4 (2 steps), p5 (1): reached 4, 3.
add(hand_case("exclusion_boundaries_and_attempts", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "x", "2026-01-05 10:00:00", {}),
    ("p1", "b", "2026-01-05 10:10:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p2", "x", "2026-01-05 10:10:00", {}),
    ("p2", "b", "2026-01-05 10:10:00", {}),
    ("p3", "a", "2026-01-05 10:00:00", {}), ("p3", "x", "2026-01-05 10:05:00", {}),
    ("p3", "b", "2026-01-05 10:10:00", {}),
    ("p4", "a", "2026-01-05 10:00:00", {}), ("p4", "x", "2026-01-05 10:05:00", {}),
    ("p4", "a", "2026-01-05 10:20:00", {}), ("p4", "b", "2026-01-05 10:30:00", {}),
    ("p5", "a", "2026-01-05 10:00:00", {}), ("p5", "x", "2026-01-05 10:05:00", {}),
    ("p5", "b", "2026-01-05 10:10:00", {}), ("p5", "a", "2026-01-05 10:20:00", {}),
    ("p6", "a", "2026-01-05 10:00:00", {}), ("p6", "x", "2026-01-05 11:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "window_hours": 1,
    "exclusions": [{"event": "x", "between": [1, 2]}]}, {
    "persons": {"p1": {"furthest_step": 2}, "p2": {"furthest_step": 2},
                "p4": {"furthest_step": 2, "entered_at": "2026-01-05 10:20:00"},
                "p5": {"furthest_step": 1, "entered_at": "2026-01-05 10:20:00"}},
    "steps": steps_expected([4, 3]),
}))

# a -> b -> c, window 1 day, exclusion x{where p = 1} between [2, 3].
# p1: a 10:00, b 11:00, x{p:1} 12:00, c 13:00 -> x between b and c: not in funnel.
# p2: a 10:00, x{p:1} 10:30, b 11:00, c 13:00 -> x before step 2: 3 steps.
# p3: a 10:00, b 11:00, x{p:1} 12:00, no c -> within the window after b: not in funnel.
# p4: a 10:00, x{p:1} 10:30 -> never reaches step 2: 1 step.
# p5: a 10:00, b 11:00, x{p:2} 12:00, c 13:00 -> x does not match (p = 2): 3 steps.
# reached 3, 2, 2.
add(hand_case("exclusion_later_steps_with_filter", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "b", "2026-01-05 11:00:00", {}),
    ("p1", "x", "2026-01-05 12:00:00", {"p": 1}), ("p1", "c", "2026-01-05 13:00:00", {}),
    ("p2", "a", "2026-01-05 10:00:00", {}), ("p2", "x", "2026-01-05 10:30:00", {"p": 1}),
    ("p2", "b", "2026-01-05 11:00:00", {}), ("p2", "c", "2026-01-05 13:00:00", {}),
    ("p3", "a", "2026-01-05 10:00:00", {}), ("p3", "b", "2026-01-05 11:00:00", {}),
    ("p3", "x", "2026-01-05 12:00:00", {"p": 1}),
    ("p4", "a", "2026-01-05 10:00:00", {}), ("p4", "x", "2026-01-05 10:30:00", {"p": 1}),
    ("p5", "a", "2026-01-05 10:00:00", {}), ("p5", "b", "2026-01-05 11:00:00", {}),
    ("p5", "x", "2026-01-05 12:00:00", {"p": 2}), ("p5", "c", "2026-01-05 13:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "window_days": 1,
    "exclusions": [{"event": "x", "where": {"p": 1}, "between": [2, 3]}]}, {
    "persons": {"p2": {"furthest_step": 3}, "p4": {"furthest_step": 1},
                "p5": {"furthest_step": 3}},
    "steps": steps_expected([3, 2, 2]),
}))

# unordered a, b, window 1 hour, exclusion x between [1, 2].
# p1: b 10:00, x 10:05, a 10:10. The 10:00 attempt: 1 step at 10:00, 2 at 10:10, x in
# between: excluded. The 10:10 attempt sees only a: 1 step, clean. -> 1 step, entered
# 10:10. reached 1, 0.
add(hand_case("exclusion_unordered", [
    ("p1", "b", "2026-01-05 10:00:00", {}), ("p1", "x", "2026-01-05 10:05:00", {}),
    ("p1", "a", "2026-01-05 10:10:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "order": "unordered", "window_hours": 1,
    "exclusions": [{"event": "x", "between": [1, 2]}]}, {
    "persons": {"p1": {"furthest_step": 1, "entered_at": "2026-01-05 10:10:00"}},
    "steps": steps_expected([1, 0]),
}))

# -- trends ----------------------------------------------------------------------------------
# a -> b, window 1 day. 2026-01-05 is a Monday. The data's end is 2026-01-14 00:00 (p4's z).
# p1: a Mon 01-05 10:00, b 01-06 09:00 (converts), a again 01-07 10:00 (no b after).
# p2: a Sun 01-11 23:00, b Mon 01-12 01:00 (converts; entry on Sunday: week of 01-05).
# p3: a Mon 01-12 00:00 (no b). p5: a Tue 01-13 00:00 (no b). p4: only z.
# Days (complete when day start + 1 day + 1 day window <= 01-14 00:00):
#   01-05: p1 1/1, complete (01-07). 01-07: p1 1/0, complete (01-09).
#   01-11: p2 1/1, complete (01-13). 01-12: p3 1/0, complete (01-14 00:00 <= 01-14 00:00).
#   01-13: p5 1/0, not complete (01-15).
# Weeks (start + 7 days + 1 day):
#   01-05: p1 (converted from the 01-05 entry) and p2: 2/2, complete (01-13).
#   01-12: p3, p5: 2/0, not complete (01-20).
add(hand_case("trends_periods", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "b", "2026-01-06 09:00:00", {}),
    ("p1", "a", "2026-01-07 10:00:00", {}),
    ("p2", "a", "2026-01-11 23:00:00", {}), ("p2", "b", "2026-01-12 01:00:00", {}),
    ("p3", "a", "2026-01-12 00:00:00", {}),
    ("p4", "z", "2026-01-14 00:00:00", {}),
    ("p5", "a", "2026-01-13 00:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "window_days": 1}, {
    "persons": {"p1": {"furthest_step": 2}, "p2": {"furthest_step": 2},
                "p3": {"furthest_step": 1}, "p5": {"furthest_step": 1}},
    "steps": steps_expected([4, 2]),
    "trends": {
        ("(all)", "day", "2026-01-05"): {"persons_entered": 1, "persons_converted": 1,
                                         "conversion_rate": 1.0, "is_complete": True},
        ("(all)", "day", "2026-01-07"): {"persons_entered": 1, "persons_converted": 0,
                                         "conversion_rate": 0.0, "is_complete": True},
        ("(all)", "day", "2026-01-11"): {"persons_entered": 1, "persons_converted": 1,
                                         "is_complete": True},
        ("(all)", "day", "2026-01-12"): {"persons_entered": 1, "persons_converted": 0,
                                         "is_complete": True},
        ("(all)", "day", "2026-01-13"): {"persons_entered": 1, "persons_converted": 0,
                                         "is_complete": False},
        ("(all)", "week", "2026-01-05"): {"persons_entered": 2, "persons_converted": 2,
                                          "conversion_rate": 1.0, "is_complete": True},
        ("(all)", "week", "2026-01-12"): {"persons_entered": 2, "persons_converted": 0,
                                          "conversion_rate": 0.0, "is_complete": False},
    },
}, data_end="2026-01-14 00:00:00"))

# a -> b, window 1 day, date_to 2026-01-06: the funnel's end is 01-07 00:00 although the
# data goes on to 01-20. p1: a 01-05 10:00 and a 01-06 10:00, b 01-08 (out of range).
# Day 01-05: 1/0, complete (01-05 + 2 days = 01-07 <= 01-07). Day 01-06: 1/0, not complete
# (01-08 > 01-07). Week 01-05: 1/0, not complete.
add(hand_case("trends_date_to_cuts_the_end", [
    ("p1", "a", "2026-01-05 10:00:00", {}), ("p1", "a", "2026-01-06 10:00:00", {}),
    ("p1", "b", "2026-01-08 10:00:00", {}), ("p2", "z", "2026-01-20 00:00:00", {}),
], {"steps": [{"event": "a"}, {"event": "b"}], "window_days": 1, "date_to": "2026-01-06"}, {
    "persons": {"p1": {"furthest_step": 1}},
    "steps": steps_expected([1, 0]),
    "trends": {
        ("(all)", "day", "2026-01-05"): {"persons_entered": 1, "is_complete": True},
        ("(all)", "day", "2026-01-06"): {"persons_entered": 1, "is_complete": False},
        ("(all)", "week", "2026-01-05"): {"persons_entered": 1, "persons_converted": 0,
                                          "is_complete": False},
    },
}))

HAND_CASES: dict[str, tuple[list[Event], dict, dict, dict]] = {
    name: (case.events, case.persons, case.funnel, case.expected or {})
    for name, case in HAND.items()
}


# -- checking an output against a case's hand-worked expectations ------------------------------
def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, dt.datetime):
        return at(expected) == actual
    if isinstance(expected, str) and isinstance(actual, dt.date):
        return dt.date.fromisoformat(expected) == actual
    if isinstance(expected, bool) or expected is None or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9)
    return expected == actual


def _check_rows(part: str, expected: Mapping, rows: dict, problems: list[str]) -> None:
    if set(expected) != set(rows):
        problems.append(f"{part}: rows {sorted(map(str, rows))}, expected "
                        f"{sorted(map(str, expected))}")
    for key, fields in expected.items():
        row = rows.get(key)
        if row is None:
            continue
        for column, value in fields.items():
            if not _same(value, row.get(column)):
                problems.append(f"{part} {key}: {column} = {row.get(column)!r}, "
                                f"expected {value!r}")


def check_expected(expected: Mapping[str, Any], output: Output) -> list[str]:
    """What differs between an output and a case's hand-worked expectations (empty when
    they agree)."""
    problems: list[str] = []
    if "persons" in expected:
        _check_rows("persons", expected["persons"],
                    {r["person_id"]: r for r in output.persons}, problems)
    if "steps" in expected:
        _check_rows("steps", expected["steps"],
                    {(r["breakdown_value"], r["step_number"]): r for r in output.steps},
                    problems)
    if "trends" in expected:
        _check_rows("trends", {(v, p, dt.date.fromisoformat(s)): f
                               for (v, p, s), f in expected["trends"].items()},
                    {(r["breakdown_value"], r["period"], r["period_start"]): r
                     for r in output.trends}, problems)
    if "histogram" in expected:
        _check_rows("histogram", expected["histogram"],
                    {(r["step_number"], r["bin_number"]): r for r in output.time_to_convert},
                    problems)
    return problems


# -- random cases (hypothesis) ---------------------------------------------------------------
ALPHABET = ("a", "b", "c", "d")
P_VALUES = (1, 2, "x", "", "1")
PLANS = ("trial", "pro", None)
BASE = dt.datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
GRID_POINTS = 6
#: grid units in seconds, and windows that are whole multiples of them (var key, value)
GRIDS = {
    1800: [("window_seconds", 1800), ("window_seconds", 3600), ("window_hours", 1),
           ("window_seconds", 5400), ("window_hours", 2)],
    21600: [("window_hours", 6), ("window_hours", 12), ("window_days", 1),
            ("window_hours", 18), ("window_days", 2)],
}


class Chooser(Protocol):
    """Where a random case's choices come from: hypothesis draws (`Drawn`, one draw per
    choice, so it shrinks) or one seeded random.Random (`Seeded`, one draw per case, so
    hundreds of cases fit in one hypothesis example)."""

    def integer(self, low: int, high: int) -> int: ...

    def pick(self, options: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class Drawn:
    draw: st.DrawFn

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def pick(self, options: Sequence[Any]) -> Any:
        return self.draw(st.sampled_from(options))


@dataclass(frozen=True)
class Seeded:
    rng: random.Random

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def pick(self, options: Sequence[Any]) -> Any:
        return self.rng.choice(list(options))


def make_events(choose: Chooser, persons: list[str], unit: int, start: dt.datetime,
                names: list[str]) -> list[Event]:
    """Each person's events: names often the funnel's own (so attempts go somewhere),
    instants on a coarse grid (so ties are common), p one of 1, 2, 'x', '', '1' (text)
    or missing."""
    events = []
    for person in persons:
        for _ in range(choose.integer(2, 9)):
            props: dict[str, Any] = {}
            value = choose.pick((None, *P_VALUES, None))
            if value is not None:
                props["p"] = value
            moment = start + dt.timedelta(seconds=unit * choose.integer(0, GRID_POINTS))
            name = choose.pick([*names, *names, *names, *ALPHABET])
            events.append(Event(person_id=person, event_name=name, occurred_at=moment,
                                properties=props))
    return events


def make_breakdown(choose: Chooser, funnel: dict[str, Any], n: int) -> None:
    kind = choose.pick(("none", "plan", "property", "property"))
    if kind == "plan":
        funnel["breakdown"] = "plan"
    elif kind == "property":
        funnel["breakdown"] = {"event_property": "p"}
        attribution = choose.pick(("default", "first_touch", "last_touch", "step"))
        if attribution == "step":
            funnel["breakdown_attribution"] = {"step": choose.integer(1, n)}
        elif attribution != "default":
            funnel["breakdown_attribution"] = attribution


def make_exclusions(choose: Chooser, funnel: dict[str, Any], n: int) -> None:
    exclusions = []
    for _ in range(choose.integer(0, 2) if n >= 2 else 0):
        i = choose.integer(1, n - 1)
        j = choose.integer(i + 1, n)
        exclusion: dict[str, Any] = {"event": choose.pick(ALPHABET), "between": [i, j]}
        if choose.integer(0, 3) == 0:
            exclusion["where"] = {"p": choose.pick((1, 2, "x"))}
        exclusions.append(exclusion)
    if exclusions:
        funnel["exclusions"] = exclusions


def make_funnel(choose: Chooser, unit: int, start: dt.datetime) -> dict[str, Any]:
    """1-4 steps from a..d (repeats allowed), sometimes filtered on p or on plan; any
    order; a window that is a whole number of grid units; sometimes a date range, a
    breakdown (plan or p, with an attribution) and exclusions."""
    n = choose.integer(1, 4)
    steps = []
    for _ in range(n):
        step: dict[str, Any] = {"event": choose.pick(ALPHABET)}
        if choose.integer(0, 4) == 0:
            step["where"] = {"p": choose.pick((1, 2, "x"))}
        if choose.integer(0, 9) == 0:
            step["where_person"] = {"plan": choose.pick(("trial", "pro"))}
        steps.append(step)
    funnel: dict[str, Any] = {"steps": steps,
                              "order": choose.pick(("ordered", "strict", "unordered"))}
    key, value = choose.pick(GRIDS[unit])
    funnel[key] = value
    if choose.integer(0, 1):
        first = start.date() + dt.timedelta(days=choose.integer(0, 1))
        last = first + dt.timedelta(days=choose.integer(0, 2))
        if choose.integer(0, 1):
            funnel["date_from"] = first.isoformat()
        if choose.integer(0, 1):
            funnel["date_to"] = last.isoformat()
    make_breakdown(choose, funnel, n)
    make_exclusions(choose, funnel, n)
    return funnel


def make_case(choose: Chooser, name: str) -> Case:
    unit = choose.pick(sorted(GRIDS))
    start = BASE + dt.timedelta(days=choose.integer(0, 6))
    funnel = make_funnel(choose, unit, start)
    persons = [f"p{i}" for i in range(1, choose.integer(1, 3) + 1)]
    people = {p: {"plan": choose.pick(PLANS)} for p in persons}
    names = [rule["event"] for rule in [*funnel["steps"], *funnel.get("exclusions", [])]]
    events = make_events(choose, persons, unit, start, names)
    return Case(events=events, persons=people, funnel={"name": name, **funnel})


@st.composite
def random_case(draw: st.DrawFn, name: str = "random") -> Case:
    """One random case, every choice a hypothesis draw (shrinks to a small case)."""
    return make_case(Drawn(draw), name)


def random_batch(size: int) -> st.SearchStrategy[list[Case]]:
    """`size` random cases named case_000, case_001, ...: one hypothesis example is one
    batch, built into one warehouse. Hypothesis draws one distinct seed per case (so
    hundreds of cases fit in one example) and `Seeded(random.Random(seed))` makes the
    case; `Case.seed` gives it back: `seeded_case(seed, name)`."""
    return st.lists(st.integers(0, 2**32 - 1), min_size=size, max_size=size,
                    unique=True).map(
        lambda seeds: [seeded_case(seed, f"case_{i:03d}") for i, seed in enumerate(seeds)])


def seeded_case(seed: int, name: str) -> Case:
    return replace(make_case(Seeded(random.Random(seed)), name), seed=seed)
