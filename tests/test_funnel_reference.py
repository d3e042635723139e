"""The plain-Python funnel reference (tests/funnel_reference.py) against the hand cases of
tests/funnel_cases.py: one or more per rule of SEMANTICS.md "Funnels" and docs/funnels.md,
each with its numbers worked out by hand. Pure Python, no warehouse: fast."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings

from tests.funnel_cases import HAND, check_expected, random_case
from tests.funnel_reference import run_funnel


@pytest.mark.parametrize("name", sorted(HAND))
def test_the_reference_gives_the_hand_worked_numbers(name: str) -> None:
    case = HAND[name]
    output = run_funnel(case.events, case.persons, case.funnel, case.own_data_end())
    problems = check_expected(case.expected or {}, output)
    assert not problems, "\n".join([f"hand case {name}:", *problems])


def test_every_hand_case_checks_something() -> None:
    """A hand case without expectations would pass whatever the reference says."""
    for name, case in HAND.items():
        assert case.expected and "persons" in case.expected, name
        assert case.expected.get("steps"), name


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_the_reference_does_not_depend_on_load_order(case) -> None:
    """Events of one instant have no inner order (SEMANTICS.md): shuffling the input rows
    changes nothing."""
    data_end = max((e.occurred_at for e in case.events), default=None)
    if data_end is None:
        return
    shuffled = list(case.events)
    random.Random(len(shuffled)).shuffle(shuffled)
    assert run_funnel(shuffled, case.persons, case.funnel, data_end) == \
        run_funnel(list(reversed(case.events)), case.persons, case.funnel, data_end)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_the_steps_agree_with_the_persons_drill_down(case) -> None:
    """SEMANTICS.md: per funnel, breakdown and step, counting fct_funnel_persons rows with
    furthest_step >= k gives persons_reached."""
    if not case.events:
        return
    out = run_funnel(case.events, case.persons, case.funnel,
                     max(e.occurred_at for e in case.events))
    for row in out.steps:
        count = sum(1 for p in out.persons if p["breakdown_value"] == row["breakdown_value"]
                    and p["furthest_step"] >= row["step_number"])
        assert count == row["persons_reached"], row
