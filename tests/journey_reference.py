"""A plain-Python reading of docs/journeys.md (the journey marts), written from that text
alone and sharing nothing with the SQL.

It works another way than the models: the SQL numbers every step once, collapsing
repeats with window functions, then cuts the numbered steps; this builds each person's
event list, and for the steps before a decision first cuts the *events* at the moment
and collapses what is left (collapsing a prefix of a sequence gives a prefix of its
collapse, so both readings must agree).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# one row of fct_events as the files say it should be (the same type the generated
# files' reading gives: tests/reference.py)
from tests.reference import SourceEvent as Event

NOISE = ("$pageview", "$autocapture", "$pageleave", "$feature_flag_called")
IDENTITY = ("$identify", "$create_alias", "$merge_dangerously")
SIGNUP = "signed_up"
END = "(end)"
SEPARATOR = " → "
OUTCOMES = ("converted", "churned", "in_trial", "expired_trial")


@dataclass(frozen=True)
class Person:
    """What the rules need of a person: the app's account times (an app user), or none
    (signed up by a signed_up event only)."""

    person_id: str
    signed_up_at: dt.datetime | None = None
    converted_at: dt.datetime | None = None
    churned_at: dt.datetime | None = None
    churned: bool = False


@dataclass(frozen=True)
class PathRow:
    outcome: str
    path_rank: int
    path: str
    persons: int
    share_of_outcome: float
    conversion_rate: float | None


@dataclass(frozen=True)
class Journey:
    """A person with a signup: their outcome, whether their trial has ended, the moment
    of their decision, and their journey's (step name, instant) after the collapse."""

    outcome: str
    is_trial_ended: bool
    decided_at: dt.datetime | None
    signed_up_at: dt.datetime
    events: tuple[tuple[str, dt.datetime], ...]  # the ordered rows after the signup row


def step_name(event: Event) -> str:
    if event.name == "deal_stage_changed" and event.deal_stage is not None:
        return f"deal_stage_changed:{event.deal_stage}"
    return event.name


def collapse(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if not out or out[-1] != name:
            out.append(name)
    return out


def journeys(persons: list[Person], events: list[Event], excluded: Iterable[str] = NOISE,
             trial_days: int = 14) -> dict[str, Journey]:
    """Every person with a signup (the app's, else their first signed_up row of any kind)
    and the rows of their journey."""
    not_steps = set(excluded) | set(IDENTITY)
    first_signup: dict[str, dt.datetime] = {}
    for e in events:
        if e.name == SIGNUP and (e.person_id not in first_signup
                                 or e.occurred_at < first_signup[e.person_id]):
            first_signup[e.person_id] = e.occurred_at
    moments = [e.occurred_at for e in events]
    for p in persons:
        moments += [t for t in (p.signed_up_at, p.converted_at, p.churned_at) if t]
    data_end = max(moments)
    account = {p.person_id: p for p in persons}
    ids = set(account) | set(first_signup)
    rows: dict[str, list[tuple[dt.datetime, int, bytes, str]]] = {i: [] for i in ids}
    out: dict[str, Journey] = {}
    for person_id in ids:
        p = account.get(person_id, Person(person_id))
        signup = p.signed_up_at or first_signup.get(person_id)
        if signup is None:
            continue
        ended = signup + dt.timedelta(days=trial_days) <= data_end
        if p.converted_at:
            outcome, decided = "converted", p.converted_at
        elif p.churned or p.churned_at:
            outcome, decided = "churned", p.churned_at
        else:
            outcome, decided = ("expired_trial" if ended else "in_trial"), None
        out[person_id] = Journey(outcome, ended, decided, signup, ())
    for e in events:
        j = out.get(e.person_id)
        name = step_name(e)
        if (j is None or not e.is_counted or e.occurred_at < j.signed_up_at
                or e.name in not_steps or name in not_steps):
            continue
        rows[e.person_id].append((e.occurred_at, 0 if name == SIGNUP else 1,
                                  name.encode(), name))
    return {person_id: Journey(j.outcome, j.is_trial_ended, j.decided_at, j.signed_up_at,
                               tuple((name, at) for at, _, _, name in sorted(rows[person_id])))
            for person_id, j in out.items()}


def steps_after(j: Journey) -> list[str]:
    return collapse([SIGNUP, *(name for name, _ in j.events)])


def steps_before(j: Journey) -> list[str] | None:
    """The steps before the decision (None without one, or decided before the signup)."""
    if j.decided_at is None or j.signed_up_at > j.decided_at:
        return None
    return collapse([SIGNUP, *(name for name, at in j.events if at < j.decided_at)])


def edges(people: dict[str, Journey], steps: int = 6) -> Counter:
    """(outcome, k, from, to) -> persons."""
    out: Counter = Counter()
    for j in people.values():
        names = steps_after(j)
        for k in range(1, min(len(names), steps - 1) + 1):
            out[(j.outcome, k, names[k - 1], names[k] if k < len(names) else END)] += 1
    return out


def ranked(paths: dict[str, tuple[str, bool, str]], top: int) -> list[PathRow]:
    """paths: person -> (outcome, trial ended, path)."""
    by_outcome: dict[str, Counter] = {}
    for outcome, _, path in paths.values():
        by_outcome.setdefault(outcome, Counter())[path] += 1
    won: Counter = Counter()
    ended: Counter = Counter()
    for outcome, is_ended, path in paths.values():
        if is_ended:
            ended[path] += 1
            won[path] += outcome == "converted"
    rows = []
    for outcome, counts in by_outcome.items():
        total = sum(counts.values())
        order = sorted(counts.items(), key=lambda item: (-item[1], item[0].encode()))
        for rank, (path, persons) in enumerate(order[:top], 1):
            rate = won[path] / ended[path] if ended[path] else None
            rows.append(PathRow(outcome, rank, path, persons, persons / total, rate))
    return sorted(rows, key=lambda r: (r.outcome, r.path_rank))


def paths(people: dict[str, Journey], steps: int = 6, top: int = 50) -> list[PathRow]:
    chosen = {}
    for person_id, j in people.items():
        names = steps_after(j)
        shown = names[:steps] + ([END] if len(names) < steps else [])
        chosen[person_id] = (j.outcome, j.is_trial_ended, SEPARATOR.join(shown))
    return ranked(chosen, top)


def paths_before(people: dict[str, Journey], steps: int = 6, top: int = 50) -> list[PathRow]:
    chosen = {}
    for person_id, j in people.items():
        names = steps_before(j)
        if names:
            chosen[person_id] = (j.outcome, j.is_trial_ended, SEPARATOR.join(names[-steps:]))
    return ranked(chosen, top)
