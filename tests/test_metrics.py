"""Daily SaaS metrics and client-side tracking loss (issue 16): fct_daily_metrics and
fct_tracking_loss on real builds, fed through the real pipelines (app dumps and PostHog
exports).

- Hand cases: a few persons whose numbers are worked out by hand in the comments below
  (days without events, the WAU window's 7-day and MAU's 30-day boundaries, a PostHog copy
  across midnight, trial cohorts at the instant of a trial's end, client > server). Both
  the marts and the plain-Python reference (tests/metrics_reference.py) must give them.
- Property test: batches of 200 random small cases on a time grid that hits day
  boundaries exactly (PostHog copies of app events among them), one dbt build per batch,
  compared row for row with the reference; one batch with the default vars, one with
  other trial_days and metrics_active_events.
- A bad var stops dbt at compile time with a message naming the var.
- The demo data: fct_tracking_loss recovers truth.json's tracking loss exactly (per event,
  summed over days, and overall), fct_daily_metrics recovers truth.json's `daily_metrics`
  exactly, day for day, and both marts agree with an independent count from the
  generated files.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from journeys.dbt import run_dbt
from journeys.paths import DataDir
from tests.metrics_reference import Day, Loss, daily_metrics, plan_sides, tracking_loss
from tests.reference import Generated
from tests.retention_reference import Event, Person
from tests.test_retention import Sources, at, ingest

UTC = dt.UTC
MARTS = ("fct_daily_metrics", "fct_tracking_loss")
Days = dict[dt.date, Day]
Losses = dict[tuple[str, dt.date], Loss]
# the other vars of the second random batch: a 3-day trial, and activity by two named
# events (a `$` name among them, which then counts)
OTHER_VARS = {"trial_days": 3, "metrics_active_events": ["file_uploaded", "$autocapture"]}


def build(data: DataDir, variables: dict | None = None, *, tests: bool = True) -> None:
    """Every model the two marts need; with `tests`, the data and unit tests of what it
    built run too."""
    args = ["--select", " ".join(f"+{mart}" for mart in MARTS)]
    args += ["--indirect-selection", "cautious"] if tests else [
        "--exclude-resource-type", "test", "unit_test"]
    if variables:
        args += ["--vars", json.dumps(variables)]
    result = run_dbt(data, "build", args, quiet=True)
    assert result.ok, f"dbt build failed with vars {variables}: {result.statuses}"


def read_marts(data: DataDir) -> tuple[Days, Losses]:
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        days = {r[0]: Day(*r[1:]) for r in con.execute(
            "select * from marts.fct_daily_metrics").fetchall()}
        losses = {(r[0], r[1]): Loss(*r[2:]) for r in con.execute(
            "select * from marts.fct_tracking_loss").fetchall()}
    return days, losses


def differences(got: dict, expected: dict, limit: int = 5) -> list:
    keys = sorted(set(got) | set(expected))
    return [(key, got.get(key), expected.get(key)) for key in keys
            if got.get(key) != expected.get(key)][:limit]


def reference_events(sources: Sources, copies: set[int]) -> list[Event]:
    """The events of `sources` as the reference reads them: every app event, every PostHog
    event (those at the indexes `copies` are copies of app events: not counted), and the
    anonymous visitors' events under their own distinct_id."""
    return [*sources.app_events,
            *(Event(e.person_id, e.name, e.occurred_at, "posthog", i not in copies)
              for i, e in enumerate(sources.posthog_events)),
            *(Event(who, name, when, "posthog") for who, name, when in sources.anonymous_events)]


def reference_sides(sources: Sources) -> list[tuple[str, str, dt.datetime]]:
    return [*(("server", e.name, e.occurred_at) for e in sources.app_events),
            *(("client", e.name, e.occurred_at) for e in sources.posthog_events),
            *(("client", name, when) for _, name, when in sources.anonymous_events)]


# -- hand cases -----------------------------------------------------------------------------
def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


HAND = Sources(
    persons=[
        Person("ana", signed_up_at=at("2026-03-01 00:00"), converted_at=at("2026-03-10 12:00")),
        Person("ben", signed_up_at=at("2026-03-02 23:59:59.999")),  # the day's last instant
        Person("cy", signed_up_at=at("2026-03-17 10:00"), churned_at=at("2026-03-20 08:00")),
        Person("dee"),  # no signed_up_at: her signed_up event is her signup
    ],
    app_events=[
        Event("ana", "signed_up", at("2026-03-01 00:00")),
        Event("ana", "file_uploaded", at("2026-03-01 10:00")),
        Event("ben", "signed_up", at("2026-03-02 23:59:59.999")),
        Event("ben", "api_call_made", at("2026-03-02 10:00")),  # the plan: server side
        Event("ben", "$autocapture", at("2026-03-05 10:00")),  # `$`: not product use
        Event("dee", "signed_up", at("2026-03-09 12:00")),
        Event("ben", "file_uploaded", at("2026-03-31 00:00")),  # the data's end
    ],
    posthog_events=[
        Event("ana", "signed_up", at("2026-03-01 00:00:20"), "posthog"),  # copy, 20 s later
        Event("ana", "file_uploaded", at("2026-03-01 10:00:05"), "posthog"),  # copy
        # ben's copy lands on the next day, 30.001 s after his signup: not counted, so ben
        # is not active on 03-03; client-side it is 03-03's signed_up
        Event("ben", "signed_up", at("2026-03-03 00:00:30"), "posthog"),
        Event("ben", "api_call_made", at("2026-03-02 10:00:10"), "posthog"),  # copy
        Event("ben", "$pageview", at("2026-03-01 23:00"), "posthog"),  # `$`: not product use
        # dee's report, client side only (no app event): counted, and 03-09's
        # report_generated has a client event and no server event
        Event("dee", "report_generated", at("2026-03-09 12:05"), "posthog"),
    ],
    # a visitor who never signs up uploads a file in the browser: active on 03-01, and a
    # client file_uploaded the server never recorded
    anonymous_events=[("visitor-1", "file_uploaded", at("2026-03-01 15:00"))],
)
HAND_COPIES = {0, 1, 2, 3}  # HAND.posthog_events that are copies of app events

# Active days (a counted PostHog or app event whose name does not start with `$`):
# ana 03-01; visitor-1 03-01; ben 03-02 (signup, API call) and 03-31 (not 03-03: only his
# uncounted copy; not 03-05: `$autocapture`); dee 03-09 (signed_up, report); cy never.
# The data runs from ana's signup 03-01 00:00 to ben's upload 03-31 00:00: 31 days, the
# last incomplete. 03-04, 03-06, 03-07, 03-08 and most days after 03-10 have no event.
DAU = {"03-01": 2, "03-02": 1, "03-09": 1, "03-31": 1}
# WAU, [d - 6, d]: ana and visitor-1 (03-01) up to 03-07, not on 03-08 (7 days later);
# ben (03-02) up to 03-08, not 03-09; dee (03-09) up to 03-15; ben again on 03-31
WAU = {"03-01": 2, **{f"03-{d:02d}": 3 for d in range(2, 8)}, "03-08": 1,
       **{f"03-{d:02d}": 1 for d in range(9, 16)}, "03-31": 1}
# MAU, [d - 29, d]: ana and visitor-1 up to 03-30, not on 03-31 (30 days later); ben from
# 03-02 on (03-02 then 03-31); dee from 03-09 on
MAU = {"03-01": 2, **{f"03-{d:02d}": 3 for d in range(2, 9)},
       **{f"03-{d:02d}": 4 for d in range(9, 31)}, "03-31": 2}
SIGNUPS = {"03-01": 1, "03-02": 1, "03-09": 1, "03-17": 1}  # ana, ben, dee (event), cy
CONVERSIONS = {"03-10": 1}  # ana
CHURNS = {"03-20": 1}  # cy
# 14-day trials: ana's ends 03-15 00:00 (converted), ben's 03-16 23:59:59.999, dee's 03-23
# 12:00; cy's would end 03-31 10:00, after the data's end: in no cohort
TRIALS_ENDED = {"03-15": (1, 1), "03-16": (1, 0), "03-23": (1, 0)}


def hand_days() -> Days:
    rows = {}
    for n in range(31):
        key = f"03-{n + 1:02d}"
        dau, wau, mau = DAU.get(key, 0), WAU.get(key, 0), MAU.get(key, 0)
        ended, converted = TRIALS_ENDED.get(key, (0, 0))
        rows[day(f"2026-{key}")] = Day(
            signups=SIGNUPS.get(key, 0), trials_started=SIGNUPS.get(key, 0),
            conversions=CONVERSIONS.get(key, 0), churns=CHURNS.get(key, 0),
            dau=dau, wau=wau, mau=mau, stickiness=dau / mau if mau else None,
            trials_ended=ended, trials_ended_converted=converted,
            trial_conversion_rate=converted / ended if ended else None,
            is_complete=key != "03-31")
    return rows


# Tracking loss: app rows against PostHog rows (copies included) per event and UTC day.
HAND_LOSSES: Losses = {
    # ana's signup and its copy; ben's signup at 03-02's last instant, its copy on 03-03
    ("signed_up", day("2026-03-01")): Loss("both", 1, 1, 0.0, False),
    ("signed_up", day("2026-03-02")): Loss("both", 1, 0, 1.0, False),
    ("signed_up", day("2026-03-03")): Loss("both", 0, 1, None, True),
    ("signed_up", day("2026-03-09")): Loss("both", 1, 0, 1.0, False),  # dee: no copy
    # ana's upload and its copy, and the visitor's upload: client > server, loss -1
    ("file_uploaded", day("2026-03-01")): Loss("both", 1, 2, -1.0, True),
    ("file_uploaded", day("2026-03-31")): Loss("both", 1, 0, 1.0, False),
    # planned `both`, sent client side only
    ("report_generated", day("2026-03-09")): Loss("both", 0, 1, None, True),
    # planned server side only, yet both sources sent it: a row, with its plan side
    ("api_call_made", day("2026-03-02")): Loss("server", 1, 1, 0.0, False),
    # $pageview (PostHog only) and $autocapture (app only) are not sent from both sides
}

# the other vars on the hand data: 3-day trials (ana's ends 03-04 00:00, ben's 03-05
# 23:59:59.999, dee's 03-12 12:00, cy's 03-20 10:00, all ended), and activity by uploads
# and `$autocapture` only: ana 03-01, visitor-1 03-01, ben 03-05 and 03-31
OTHER_DAU = {"03-01": 2, "03-05": 1, "03-31": 1}
OTHER_WAU = {**{f"03-{d:02d}": 2 for d in range(1, 5)}, **{f"03-{d:02d}": 3 for d in (5, 6, 7)},
             **{f"03-{d:02d}": 1 for d in range(8, 12)}, "03-31": 1}
OTHER_MAU = {**{f"03-{d:02d}": 2 for d in range(1, 5)}, **{f"03-{d:02d}": 3 for d in range(5, 31)},
             "03-31": 1}  # ana and visitor-1 leave on 03-31; ben (03-05, 03-31) stays
OTHER_TRIALS_ENDED = {"03-04": (1, 1), "03-05": (1, 0), "03-12": (1, 0), "03-20": (1, 0)}


def other_hand_days() -> Days:
    rows = hand_days()
    for date, row in rows.items():
        key = date.isoformat()[5:]
        dau, wau, mau = OTHER_DAU.get(key, 0), OTHER_WAU.get(key, 0), OTHER_MAU.get(key, 0)
        ended, converted = OTHER_TRIALS_ENDED.get(key, (0, 0))
        rows[date] = Day(
            row.signups, row.trials_started, row.conversions, row.churns, dau, wau, mau,
            dau / mau if mau else None, ended, converted,
            converted / ended if ended else None, row.is_complete)
    return rows


def hand_reference(**settings) -> tuple[Days, Losses]:
    return (daily_metrics(HAND.persons, reference_events(HAND, HAND_COPIES), **settings),
            tracking_loss(reference_sides(HAND), plan_sides()))


def test_the_reference_gives_the_hand_numbers() -> None:
    assert hand_reference() == (hand_days(), HAND_LOSSES)
    days, _ = hand_reference(trial_days=3, active_events=OTHER_VARS["metrics_active_events"])
    assert days == other_hand_days()


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    data = DataDir(tmp_path_factory.mktemp("metrics-hand")).ensure()
    ingest(data, HAND)
    return data


def test_the_marts_give_the_hand_numbers(hand: DataDir) -> None:
    """Built by dbt with the default vars, the marts' data and unit tests included."""
    build(hand)
    days, losses = read_marts(hand)
    assert days == hand_days(), differences(days, hand_days())
    assert losses == HAND_LOSSES, differences(losses, HAND_LOSSES)
    with duckdb.connect(str(hand.warehouse_db), read_only=True) as con:
        copies = con.execute("select count(*) from marts.fct_events where not is_counted"
                             ).fetchone()[0]
    assert copies == len(HAND_COPIES)  # the copies the hand numbers assume


def test_other_vars_give_the_hand_numbers(hand: DataDir) -> None:
    """Rebuilt by dbt with OTHER_VARS (after the default build, which made the models
    upstream): tracking loss does not depend on them."""
    build(hand, OTHER_VARS)
    days, losses = read_marts(hand)
    assert days == other_hand_days(), differences(days, other_hand_days())
    assert losses == HAND_LOSSES


# -- a bad var ------------------------------------------------------------------------------
@pytest.mark.parametrize(("variables", "message"), [
    ({"metrics_active_events": "file_uploaded"}, "var metrics_active_events must be null"),
    ({"metrics_active_events": []}, "var metrics_active_events is an empty list"),
    ({"metrics_active_events": ["file_uploaded", " "]},
     "var metrics_active_events: item 2 ( ) is not an event name"),
    ({"trial_days": 0}, "var trial_days must be a whole number of days, at least 1"),
    ({"trial_days": 1.5}, "var trial_days must be a whole number of days, at least 1"),
    ({"trial_days": "two weeks"}, "var trial_days must be a whole number of days, at least 1"),
])
def test_a_bad_var_fails_at_compile_time_naming_it(
        tmp_path: Path, capfd: pytest.CaptureFixture, variables: dict, message: str) -> None:
    result = run_dbt(DataDir(tmp_path).ensure(), "parse", ["--vars", json.dumps(variables)])
    assert not result.ok
    assert message in capfd.readouterr().out


# -- property test: random batches against the reference --------------------------------------
ORIGIN = dt.datetime(2022, 1, 3, tzinfo=UTC)
CASES = 200  # per batch; case i's days start 20 days after case i-1's, its users' windows
# and trials overlapping its neighbours', so the batch is one timeline compared day by day
CASE_DAYS = 20
WITHIN_DAY = (dt.timedelta(0), dt.timedelta(milliseconds=1), dt.timedelta(hours=12),
              dt.timedelta(days=1, milliseconds=-1))
SIGNUP_DAYS = range(0, 8)
EVENT_DAYS = range(-2, 36)
POINTS = len(EVENT_DAYS) * len(WITHIN_DAY)
# app events (feature_used: planned client side only, so it is sent from both sides only
# when it has a copy); the names a user's PostHog events carry alone are never an app
# event's, so none of them can pass for a copy; visitors (no app events) also send
# report_generated, planned from both sides
APP_NAMES = ("signed_up", "file_uploaded", "report_generated", "$autocapture", "feature_used")
CLIENT_NAMES = ("$pageview", "onboarding_started", "upgrade_page_viewed")
VISITOR_NAMES = ("$pageview", "report_generated")
# a copy's time after its app event (none: no copy). Within 60 s of it
# (server_copy_window_seconds), and app events of one person and name within 60 s of
# each other lie within 2 ms of each other on the grid, so every copy pairs with one of
# them whatever order the pairing takes: it is never counted
COPY_OFFSETS = (None, dt.timedelta(seconds=-20), dt.timedelta(seconds=20),
                dt.timedelta(seconds=59))
# the data's end: an app event of a last user at their trial's end, 1 ms before or after
# it (the trial ends inside the data or not), or at the next midnight
CLOSINGS = ("trial_end", "trial_end-1ms", "trial_end+1ms", "midnight")


def on_grid(base: dt.datetime, point: int, days: range) -> dt.datetime:
    """Grid point `point`: a day of `days` after `base`, at 00:00, 00:00:00.001, 12:00 or
    23:59:59.999, so day boundaries (and the windows' 7 and 30 days) are hit exactly."""
    return base + dt.timedelta(days=days[point // len(WITHIN_DAY)]) + WITHIN_DAY[
        point % len(WITHIN_DAY)]


def batch_sources(cases: list, closing: tuple[int, str, str], trial_days: int
                  ) -> tuple[Sources, set[int]]:
    """Case i's users `c<i>u<j>`: signup, conversion and churn on the grid (or none), app
    events with or without a PostHog copy, PostHog-only events; its visitors' events. Then
    the closing user, who signs up after every case and ends the data. Returns the sources
    and the indexes of the PostHog events that are copies."""
    sources, copies = Sources(), set()
    for i, (users, visitors) in enumerate(cases):
        base = ORIGIN + dt.timedelta(days=CASE_DAYS * i)
        for j, (signup, converted, churned, app, client) in enumerate(users):
            person_id = f"c{i:03d}u{j}"
            sources.persons.append(Person(
                person_id,
                signed_up_at=None if signup < 0 else on_grid(base, signup, SIGNUP_DAYS),
                converted_at=None if converted < 0 else on_grid(base, converted, EVENT_DAYS),
                churned_at=None if churned < 0 else on_grid(base, churned, EVENT_DAYS)))
            for drawn in app:
                name, rest = divmod(drawn, POINTS * len(COPY_OFFSETS))
                point, offset = divmod(rest, len(COPY_OFFSETS))
                instant = on_grid(base, point, EVENT_DAYS)
                sources.app_events.append(Event(person_id, APP_NAMES[name], instant))
                if COPY_OFFSETS[offset] is not None:
                    copies.add(len(sources.posthog_events))
                    sources.posthog_events.append(Event(
                        person_id, APP_NAMES[name], instant + COPY_OFFSETS[offset], "posthog"))
            for drawn in client:
                name, point = divmod(drawn, POINTS)
                sources.posthog_events.append(Event(
                    person_id, CLIENT_NAMES[name], on_grid(base, point, EVENT_DAYS), "posthog"))
        for k, drawn in enumerate(visitors):
            name, point = divmod(drawn, POINTS)
            sources.anonymous_events.append(
                (f"v{i:03d}-{k}", VISITOR_NAMES[name], on_grid(base, point, EVENT_DAYS)))
    signup_point, name, kind = closing
    signed_up_at = on_grid(ORIGIN + dt.timedelta(days=CASE_DAYS * len(cases) + 40),
                           signup_point, SIGNUP_DAYS)
    trial_end = signed_up_at + dt.timedelta(days=trial_days)
    instant = {"trial_end": trial_end,
               "trial_end-1ms": trial_end - dt.timedelta(milliseconds=1),
               "trial_end+1ms": trial_end + dt.timedelta(milliseconds=1),
               "midnight": dt.datetime.combine(trial_end.date() + dt.timedelta(days=1),
                                               dt.time(), UTC)}[kind]
    sources.persons.append(Person("closer", signed_up_at=signed_up_at))
    sources.app_events.append(Event("closer", name, instant))
    return sources, copies


# each event is one drawn integer (name, grid point and copy offset), so a batch of 200
# cases stays within the data hypothesis draws for one example
APP_EVENT = st.integers(0, len(APP_NAMES) * POINTS * len(COPY_OFFSETS) - 1)
CLIENT_EVENT = st.integers(0, len(CLIENT_NAMES) * POINTS - 1)
USER = st.tuples(
    st.integers(-8, len(SIGNUP_DAYS) * len(WITHIN_DAY) - 1),  # < 0: no signed_up_at
    st.integers(-40, POINTS - 1),  # < 0: not converted
    st.integers(-60, POINTS - 1),  # < 0: not churned
    st.lists(APP_EVENT, max_size=4),
    st.lists(CLIENT_EVENT, max_size=1),
)
VISITOR_EVENT = st.integers(0, len(VISITOR_NAMES) * POINTS - 1)
CASE = st.tuples(st.lists(USER, min_size=1, max_size=3), st.lists(VISITOR_EVENT, max_size=1))
BATCH = st.lists(CASE, min_size=CASES, max_size=CASES)
CLOSING = st.tuples(st.integers(0, len(SIGNUP_DAYS) * len(WITHIN_DAY) - 1),
                    st.sampled_from(("file_uploaded", "$autocapture")), st.sampled_from(CLOSINGS))


def seeded_batch(seed: int) -> list:
    """A batch of BATCH's shape from a seeded generator, for an explicit example."""
    rng = random.Random(seed)

    def maybe(low: int, high: int) -> int:
        return rng.randint(low, high)

    def user() -> tuple:
        return (maybe(-8, len(SIGNUP_DAYS) * len(WITHIN_DAY) - 1), maybe(-40, POINTS - 1),
                maybe(-60, POINTS - 1),
                [rng.randrange(len(APP_NAMES) * POINTS * len(COPY_OFFSETS))
                 for _ in range(rng.randint(0, 4))],
                [rng.randrange(len(CLIENT_NAMES) * POINTS) for _ in range(rng.randint(0, 1))])

    return [([user() for _ in range(rng.randint(1, 3))],
             [rng.randrange(len(VISITOR_NAMES) * POINTS) for _ in range(rng.randint(0, 1))])
            for _ in range(CASES)]


# one random batch with the default vars, and one seeded batch with OTHER_VARS
@settings(max_examples=1, phases=[Phase.explicit, Phase.generate], deadline=None,
          database=None, suppress_health_check=list(HealthCheck))
@example(cases=seeded_batch(16), closing=(5, "file_uploaded", "trial_end"),
         variables=OTHER_VARS)
@given(cases=BATCH, closing=CLOSING, variables=st.just({}))
def test_random_batches_agree_with_the_reference(cases: list, closing: tuple,
                                                 variables: dict) -> None:
    """One example is one batch of 200 cases in one warehouse, built once by dbt (2
    batches: 400 cases, about 800 persons, 3,000 events and 8,000 days): every row of
    both marts must be the reference's."""
    trial_days = variables.get("trial_days", 14)
    sources, copies = batch_sources(cases, closing, trial_days)
    assume(len(sources.app_events) > CASES)  # not hypothesis' all-zero first batch
    expected_days = daily_metrics(sources.persons, reference_events(sources, copies),
                                  trial_days=trial_days,
                                  active_events=variables.get("metrics_active_events"))
    expected_losses = tracking_loss(reference_sides(sources), plan_sides())
    with tempfile.TemporaryDirectory(prefix="metrics-batch-") as folder:
        data = DataDir(Path(folder)).ensure()
        ingest(data, sources)
        build(data, variables, tests=False)
        days, losses = read_marts(data)
        with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
            uncounted = con.execute("select count(*) from marts.fct_events where not is_counted"
                                    ).fetchone()[0]
    assert uncounted == len(copies), "the pipelines paired other copies than the batch made"
    assert days == expected_days, (variables, closing, differences(days, expected_days))
    assert losses == expected_losses, (closing, differences(losses, expected_losses))
    # the data reaches what the test is for: windows across empty days, client > server
    assert any(d.dau == 0 < d.wau for d in days.values())
    assert any(row.is_client_excess for row in losses.values())
    assert sum(d.trials_ended for d in days.values()) > 0


# -- the demo data ----------------------------------------------------------------------------
def demo_events(ref: Generated) -> list[Event]:
    """The generated app and PostHog events with their persons, read from the files
    (tests/reference.py): a PostHog copy of an app event is not counted."""
    events = [Event(e["user_id"], e["name"], e["created_at"], "app") for e in ref.app_events]
    events += [Event(ref.person_of(e["distinct_id"]), e["event"], e["ts"], "posthog",
                     uuid not in ref.copies) for uuid, e in ref.export_events.items()]
    return events


def test_the_demo_recovers_the_planted_tracking_loss(warehouse) -> None:
    """600 generated users: per event sent from both sides, the mart's server and client
    counts summed over days are truth.json's exactly (measured by the generator on the rows
    it wrote; the export's duplicate rows are the same events), and so is the overall
    loss. Per event and day, the rows are an independent count of the generated files."""
    data, ref = warehouse
    _, losses = read_marts(data)
    truth = json.loads((data.generated / "truth.json").read_text())["tracking_loss"]
    totals: dict[str, list[int]] = {}
    for (name, _), row in losses.items():
        total = totals.setdefault(name, [0, 0])
        total[0] += row.server_events
        total[1] += row.client_events
    assert totals == {name: [counts["server"], counts["client"]]
                      for name, counts in truth["by_event"].items()}
    server = sum(total[0] for total in totals.values())
    client = sum(total[1] for total in totals.values())
    assert (server, client) == (truth["server"], truth["client"])
    assert (server - client) / server == pytest.approx(truth["loss_pct"], abs=1e-12)
    sides = [("server", e["name"], e["created_at"]) for e in ref.app_events]
    sides += [("client", e["event"], e["ts"]) for e in ref.export_events.values()]
    expected = tracking_loss(sides, plan_sides())
    assert losses == expected, differences(losses, expected)


def test_the_demo_daily_metrics_agree_with_the_generated_files(warehouse) -> None:
    """Every day of the 600 generated users' data, from an independent count of the files
    (users, app events, PostHog export rows deduplicated by uuid, copies of app events not
    counted): signups, conversions, churns, DAU, WAU, MAU, trial cohorts."""
    data, ref = warehouse
    days, _ = read_marts(data)
    persons = [Person(uid, u["signed_up_at"], u["converted_at"], u["churned_at"])
               for uid, u in ref.users.items()]
    expected = daily_metrics(persons, demo_events(ref))
    assert days == expected, differences(days, expected)
    # and with the generator's own truth: every app user signed up on some day; the trial
    # cohorts add up to the users whose trial ended by the data's end, and their
    # conversions to those who converted (the population of truth.json's
    # invite_conversion); every conversion is on some day
    truth = json.loads((data.generated / "truth.json").read_text())
    assert sum(d.signups for d in days.values()) == truth["users"]
    ended = truth["invite_conversion"]
    assert sum(d.trials_ended for d in days.values()) == (
        ended["persons_with"] + ended["persons_without"])
    assert sum(d.trials_ended_converted for d in days.values()) == (
        ended["converted_with"] + ended["converted_without"])
    assert sum(d.conversions for d in days.values()) == truth["trial_outcomes"]["converted"]


PLANTED_DAY_COLUMNS = ("signups", "conversions", "churns", "dau", "wau", "mau", "trials_ended",
                       "trials_ended_converted")


def test_the_demo_daily_metrics_recover_the_planted_truth(warehouse) -> None:
    """600 generated users: every day of fct_daily_metrics is truth.json's `daily_metrics`
    (counted by the generator from its own simulated rows and accounts, not from the
    files or the SQL): the same days, and on each the same signups, conversions, churns,
    DAU, WAU, MAU and trial cohort; the derived columns follow from them.

    Exact, no tolerance: the demo plants no defects (every user row has its signup), each
    simulated actor is exactly one person, and the truth counts the rows actually written
    (ad-blocked client events, the PostHog copies of app events not counted again), so
    any difference is a wrong count, not noise."""
    data, _ = warehouse
    days, _ = read_marts(data)
    truth = json.loads((data.generated / "truth.json").read_text())["daily_metrics"]
    planted = {dt.date.fromisoformat(day["metric_date"]): tuple(day[c] for c in
                                                                PLANTED_DAY_COLUMNS)
               for day in truth["days"]}
    got = {date: tuple(getattr(day, c) for c in PLANTED_DAY_COLUMNS)
           for date, day in days.items()}
    assert got == planted, differences(got, planted)
    last = max(days)
    for date, day in days.items():
        assert day.trials_started == day.signups
        assert day.stickiness == (pytest.approx(day.dau / day.mau) if day.mau else None)
        assert day.trial_conversion_rate == (
            pytest.approx(day.trials_ended_converted / day.trials_ended)
            if day.trials_ended else None)
        assert day.is_complete == (date < last)
    # the planted days reach what the mart is for: days without activity before the first
    # signup, trial cohorts with and without conversions, and churns
    values = list(planted.values())
    assert values[0][3] == 0 < max(v[3] for v in values)
    assert sum(v[7] for v in values) > 0 < sum(v[6] - v[7] for v in values)
    assert sum(v[2] for v in values) > 0
