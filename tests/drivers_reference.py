"""A plain-Python reading of SEMANTICS.md's "Conversion drivers" and "Trial outcome" and of
docs/conversion_drivers.md, written from those texts alone.

It shares nothing with the SQL and works another way: the SQL counts distinct persons per
event with joins and window functions and computes erfc by a Chebyshev fit; this walks
each person's own events in Python, builds each 2x2 table from sets, takes the odds ratio
from exact fractions, p-values from `math.erfc`, and the Benjamini-Hochberg q-values
straight from their definition (a minimum over the larger p-values, no running minimum).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

# tracking-plan statuses whose events are candidates (docs/conversion_drivers.md)
CANDIDATE_STATUSES = ("active", "deprecated")
DEFAULT_OUTCOME_EVENTS = ("plan_upgraded", "cancellation_started", "account_deleted")
Z_95 = 1.96  # SEMANTICS.md's interval: exp(ln OR ± 1.96·se)


@dataclass(frozen=True)
class Person:
    """What the rules need of a person: the app's signup, conversion and churn times."""

    person_id: str
    signed_up_at: dt.datetime | None = None
    converted_at: dt.datetime | None = None
    churned_at: dt.datetime | None = None


@dataclass(frozen=True)
class Event:
    """One row of the event stream; `is_counted` is false on a PostHog copy of an app event."""

    person_id: str
    name: str
    occurred_at: dt.datetime
    is_counted: bool = True


@dataclass(frozen=True)
class Driver:
    """One row of fct_conversion_drivers."""

    behaviour_event: str
    window_days: int
    persons_with: int
    converted_with: int
    rate_with: float | None
    persons_without: int
    converted_without: int
    rate_without: float | None
    lift: float | None
    odds_ratio: float | None
    odds_ratio_ci_low: float | None
    odds_ratio_ci_high: float | None
    p_value: float | None
    q_value: float | None
    is_significant: bool
    is_ranked: bool
    rank: int | None


def data_end(persons: Iterable[Person], events: Iterable[Event]) -> dt.datetime:
    """The latest moment in the data: any event, or an app account's signup, conversion or
    churn."""
    moments = [e.occurred_at for e in events]
    for p in persons:
        moments += [t for t in (p.signed_up_at, p.converted_at, p.churned_at) if t is not None]
    return max(moments)


def trial_outcome(person: Person, end: dt.datetime, trial_days: int = 14) -> str | None:
    """SEMANTICS.md's trial outcome, as of the data's end; None without a signup."""
    if person.signed_up_at is None:
        return None
    if person.converted_at is not None:
        return "converted"
    if person.churned_at is not None:
        return "churned"
    if person.signed_up_at + dt.timedelta(days=trial_days) > end:
        return "in_trial"
    return "expired_trial"


def candidate_events(plan: Iterable[tuple[str, str]],
                     outcome_events: Iterable[str] = DEFAULT_OUTCOME_EVENTS) -> list[str]:
    """The plan's (event_name, status) rows that are candidates, sorted by name."""
    outcomes = set(outcome_events)
    return sorted({name for name, status in plan
                   if status in CANDIDATE_STATUSES and name not in outcomes})


def two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2))


def odds_ratio_test(a: int, b: int, c: int, d: int
                    ) -> tuple[float, float, float, float]:
    """(odds ratio, CI low, CI high, Wald p-value) of the 2x2 table [[a, b], [c, d]]
    (a, b: converted and not among those with the behaviour; c, d: without), 1/2 added
    to every cell when any cell is 0."""
    cells = [Fraction(x) for x in (a, b, c, d)]
    if 0 in cells:
        cells = [x + Fraction(1, 2) for x in cells]
    ca, cb, cc, cd = cells
    ratio = (ca * cd) / (cb * cc)
    log_ratio = math.log(ratio)
    se = math.sqrt(float(sum(1 / x for x in cells)))
    return (float(ratio), math.exp(log_ratio - Z_95 * se), math.exp(log_ratio + Z_95 * se),
            two_sided_p(log_ratio / se))


def benjamini_hochberg(p_values: dict[str, float]) -> dict[str, float]:
    """Each key's BH q-value: with p(1) <= ... <= p(m) (ties in key order),
    q(i) = min(1, min over j >= i of p(j)·m / j)."""
    ordered = sorted(p_values.items(), key=lambda item: (item[1], item[0]))
    m = len(ordered)
    return {key: min(1.0, min(ordered[j][1] * m / (j + 1) for j in range(i, m)))
            for i, (key, _) in enumerate(ordered)}


def drivers(persons: Sequence[Person], events: Sequence[Event], candidates: Iterable[str], *,
            window_days: int = 7, min_support: int = 30, alpha: float = 0.05,
            trial_days: int = 14, end: dt.datetime | None = None) -> dict[str, Driver]:
    """fct_conversion_drivers' rows, by behaviour event. `end` is the data's end (default:
    the latest moment of these persons and events)."""
    end = end if end is not None else data_end(persons, events)
    outcome = {p.person_id: trial_outcome(p, end, trial_days) for p in persons}
    signup = {p.person_id: p.signed_up_at for p in persons}
    population = {pid for pid, o in outcome.items() if o in ("converted", "churned",
                                                              "expired_trial")}
    converted = {pid for pid in population if outcome[pid] == "converted"}
    window = dt.timedelta(days=window_days)
    did: dict[str, set[str]] = {}
    for e in events:
        if not e.is_counted or e.person_id not in population:
            continue
        start = signup[e.person_id]
        assert start is not None
        if start <= e.occurred_at <= start + window:
            did.setdefault(e.name, set()).add(e.person_id)

    rows: dict[str, dict] = {}
    for name in candidates:
        with_b = did.get(name, set())
        without_b = population - with_b
        a, n_with = len(with_b & converted), len(with_b)
        c, n_without = len(without_b & converted), len(without_b)
        rate_with = a / n_with if n_with else None
        rate_without = c / n_without if n_without else None
        lift = (rate_with / rate_without
                if rate_with is not None and rate_without else None)
        if n_with and n_without:
            ratio, low, high, p = odds_ratio_test(a, n_with - a, c, n_without - c)
        else:
            ratio = low = high = p = None
        rows[name] = {"behaviour_event": name, "window_days": window_days,
                      "persons_with": n_with, "converted_with": a, "rate_with": rate_with,
                      "persons_without": n_without, "converted_without": c,
                      "rate_without": rate_without, "lift": lift, "odds_ratio": ratio,
                      "odds_ratio_ci_low": low, "odds_ratio_ci_high": high, "p_value": p}

    q = benjamini_hochberg({k: r["p_value"] for k, r in rows.items()
                            if r["p_value"] is not None})
    for key, row in rows.items():
        row["q_value"] = q.get(key)
        row["is_significant"] = row["q_value"] is not None and row["q_value"] <= alpha
        row["is_ranked"] = (row["p_value"] is not None and row["persons_with"] >= min_support
                            and row["persons_without"] >= min_support)
    ranked = sorted((r for r in rows.values() if r["is_ranked"]), key=rank_key)
    for position, row in enumerate(ranked, 1):
        row["rank"] = position
    return {key: Driver(**{"rank": None, **row}) for key, row in rows.items()}


def rank_key(row: dict) -> tuple:
    """Rank order: q_value, then p_value, then the larger lift (unknown last), then name."""
    lift = row["lift"]
    return (row["q_value"], row["p_value"], lift is None, -(lift or 0.0), row["behaviour_event"])
