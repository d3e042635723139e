"""Server-side capture (journeys.track, journeys/capture.py): the exact payload the PostHog
SDK posts, the tracking plan enforced (development raises and sends nothing; production
logs and sends), the identify/first-touch rules, illegal ids, configuration errors, and the
optional row in the app's Postgres events table (a real server from pgserver)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from posthog.utils import system_context
from posthog.version import VERSION

import journeys
from journeys.capture import (
    AppEventsTable,
    InvalidDistinctId,
    Tracker,
    TrackerConfigError,
    TrackingPlanViolation,
)
from journeys.generator.app import SCHEMA_SQL
from journeys.stand_ins.posthog_capture import PostHogCapture

KEY = "phc_journeys_test_key"
WHEN = datetime(2026, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
ENV = ("POSTHOG_HOST", "POSTHOG_PROJECT_API_KEY", "JOURNEYS_TRACKING_MODE",
       "JOURNEYS_APP_DATABASE_URL", "POSTHOG_CAPTURE_MODE", "POSTHOG_CAPTURE_COMPRESSION",
       "POSTHOG_RELEASE_ID")


@pytest.fixture(scope="module")
def posthog() -> Iterator[PostHogCapture]:
    with PostHogCapture(api_key=KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(posthog: PostHogCapture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    posthog.reset()
    yield
    journeys.capture.close()  # the process-wide tracker, if a test built one


@pytest.fixture
def make_tracker(posthog: PostHogCapture) -> Iterator:
    made: list[Tracker] = []

    def make(mode: str | None = "development", **options) -> Tracker:
        tracker = Tracker(mode=mode, host=posthog.base_url, api_key=KEY, **options)
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        tracker.close()


def sdk_properties(**own) -> dict:
    """The properties posthog-python adds to every server-side event, after `own`."""
    return {**own, **system_context(), "$lib": "posthog-python", "$lib_version": VERSION,
            "$geoip_disable": True, "$is_server": True}


def names(posthog: PostHogCapture) -> list[str]:
    return [event["event"] for event in posthog.events]


# -- the payload -----------------------------------------------------------------------


def test_track_posts_the_exact_batch_posthog_receives(posthog, make_tracker) -> None:
    tracker = make_tracker()
    uuid = tracker.track("10000", "workspace_created", {"template": "blank"},
                         session_id="0196a1b2-sess", timestamp=WHEN)
    tracker.flush()
    (request,) = posthog.requests
    assert (request.method, request.path) == ("POST", "/batch/")
    assert "content-encoding" not in request.headers
    (body,) = posthog.bodies
    assert set(body) == {"api_key", "batch", "historical_migration", "sent_at"}
    assert body["api_key"] == KEY
    assert body["historical_migration"] is False
    assert body["batch"] == [{
        "event": "workspace_created",
        "distinct_id": "10000",
        "properties": sdk_properties(template="blank", **{"$session_id": "0196a1b2-sess"}),
        "timestamp": "2026-05-01T10:00:00.123000+00:00",
        "uuid": uuid,
    }]


def test_gzip_bodies_integer_ids_and_naive_timestamps_read_as_utc(posthog,
                                                                   make_tracker) -> None:
    tracker = make_tracker(gzip=True, sync_mode=True)
    tracker.track(42, "report_generated", {"report_type": "weekly"},
                  timestamp=datetime(2026, 5, 1, 23, 30))
    (request,) = posthog.requests
    assert request.headers["content-encoding"] == "gzip"
    (event,) = posthog.events
    assert event["distinct_id"] == "42"
    assert event["timestamp"] == "2026-05-01T23:30:00+00:00"
    assert event["properties"] == sdk_properties(report_type="weekly")  # no $session_id


def test_identify_posts_identify_with_anon_id_set_and_set_once(posthog, make_tracker) -> None:
    tracker = make_tracker()
    uuid = tracker.identify(
        "10000", "01968f3c-anon", set={"plan": "trial", "email": "ada@example.com"},
        set_once={"utm_source": "google", "utm_medium": "cpc",
                  "$initial_referring_domain": "www.google.com"},
        timestamp=WHEN)
    tracker.flush()
    assert posthog.events == [{
        "event": "$identify",
        "distinct_id": "10000",
        "properties": sdk_properties(**{
            "$anon_distinct_id": "01968f3c-anon",
            "$set": {"plan": "trial", "email": "ada@example.com"},
            "$set_once": {"utm_source": "google", "utm_medium": "cpc",
                          "$initial_referring_domain": "www.google.com"},
        }),
        "timestamp": "2026-05-01T10:00:00.123000+00:00",
        "uuid": uuid,
    }]


# -- the tracking plan -------------------------------------------------------------------

VIOLATIONS = [
    pytest.param("Signed_Up", {"signup_method": "email"},
                 ["'Signed_Up'", "is not in the tracking plan", "did you mean 'signed_up'?"],
                 id="unknown-event"),
    pytest.param("trial_extended", {"extension_days": "7"},
                 ["trial_extended.extension_days", "should be a number, got a string"],
                 id="wrong-type"),
    pytest.param("signed_up", {},
                 ["signed_up.signup_method", "is required by the tracking plan"],
                 id="missing-required"),
    pytest.param("item_created", {},
                 ["item_created: is removed in the tracking plan",
                  "Replaced by first_item_created"],
                 id="removed-event"),
]


@pytest.mark.parametrize(("event", "properties", "expected"), VIOLATIONS)
def test_development_raises_and_sends_nothing(posthog, make_tracker, event, properties,
                                              expected) -> None:
    tracker = make_tracker("development")
    with pytest.raises(TrackingPlanViolation) as raised:
        tracker.track("10000", event, properties, timestamp=WHEN)
    message = str(raised.value)
    for part in expected:
        assert part in message
    assert "seeds/tracking_plan.csv" in message and "was not sent" in message
    assert raised.value.event == event
    assert all(f.severity == "error" for f in raised.value.findings)
    tracker.flush()
    assert posthog.requests == []


@pytest.mark.parametrize(("event", "properties", "expected"), VIOLATIONS)
def test_production_sends_and_logs_a_warning(posthog, make_tracker, caplog, event,
                                             properties, expected) -> None:
    tracker = make_tracker("production")
    with caplog.at_level(logging.WARNING, logger="journeys.capture"):
        tracker.track("10000", event, properties, timestamp=WHEN)
    tracker.flush()
    assert names(posthog) == [event]
    assert posthog.events[0]["properties"] == sdk_properties(**properties)
    warnings = [r for r in caplog.records if r.name == "journeys.capture"]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)
    assert "production mode" in warnings[0].getMessage()
    assert expected[1] in warnings[0].getMessage()


def test_every_finding_is_listed(make_tracker) -> None:
    with pytest.raises(TrackingPlanViolation) as raised:
        make_tracker().track("10000", "item_created", {"$set": {"utm_source": "x"}})
    assert [f.subject for f in raised.value.findings] == ["item_created",
                                                          "item_created.$set.utm_source"]


@pytest.mark.parametrize("mode", ["development", "production"])
def test_a_deprecated_event_is_sent_with_a_warning(posthog, make_tracker, caplog,
                                                   mode) -> None:
    tracker = make_tracker(mode)
    with caplog.at_level(logging.WARNING, logger="journeys.capture"):
        tracker.track("10000", "session_started", session_id="s-1")
    tracker.flush()
    assert names(posthog) == ["session_started"]
    (record,) = [r for r in caplog.records if r.name == "journeys.capture"]
    assert "session_started: is deprecated" in record.getMessage()
    assert "$session_id" in record.getMessage()  # the plan's advice comes along


def test_posthog_events_are_outside_the_plan(posthog, make_tracker, caplog) -> None:
    tracker = make_tracker(sync_mode=True)
    with caplog.at_level(logging.WARNING, logger="journeys.capture"):
        tracker.track("10000", "$pageview", {"$current_url": "https://app.example.com/"})
    assert names(posthog) == ["$pageview"]
    assert not [r for r in caplog.records if r.name == "journeys.capture"]


def test_mode_from_argument_then_env_then_development(posthog, monkeypatch) -> None:
    options = {"host": posthog.base_url, "api_key": KEY, "sync_mode": True}
    assert Tracker(**options).mode == "development"
    monkeypatch.setenv("JOURNEYS_TRACKING_MODE", "production")
    assert Tracker(**options).mode == "production"
    assert Tracker(mode="development", **options).mode == "development"
    monkeypatch.setenv("JOURNEYS_TRACKING_MODE", "prod")
    with pytest.raises(TrackerConfigError, match=r"JOURNEYS_TRACKING_MODE='prod' is not a "
                                                 r"tracking mode: use 'development'"):
        Tracker(**options)
    with pytest.raises(TrackerConfigError, match="mode='strict' is not a tracking mode"):
        Tracker(mode="strict", **options)


# -- identify and identity rules -------------------------------------------------------------


def test_first_touch_in_set_raises_in_development(posthog, make_tracker) -> None:
    with pytest.raises(TrackingPlanViolation) as raised:
        make_tracker().identify("10000", "anon-1", set={"plan": "trial", "utm_source": "x",
                                                        "$referring_domain": "a.com"})
    assert [f.subject for f in raised.value.findings] == [
        "$identify.$set.utm_source", "$identify.$set.$referring_domain"]
    assert "set_once, never in set" in str(raised.value)
    assert posthog.requests == []


def test_first_touch_in_set_moves_to_set_once_in_production(posthog, make_tracker,
                                                            caplog) -> None:
    tracker = make_tracker("production", sync_mode=True)
    with caplog.at_level(logging.WARNING, logger="journeys.capture"):
        tracker.identify("10000", "anon-1",
                         set={"plan": "pro", "utm_source": "newsletter",
                              "$initial_utm_campaign": "spring", "gclid": "Cj0"},
                         set_once={"utm_source": "google"})
    (event,) = posthog.events
    assert event["properties"]["$set"] == {"plan": "pro"}
    # moved, never overwriting what set_once already carries
    assert event["properties"]["$set_once"] == {
        "utm_source": "google", "$initial_utm_campaign": "spring", "gclid": "Cj0"}
    messages = [r.getMessage() for r in caplog.records if r.name == "journeys.capture"]
    assert len(messages) == 3 and all("moved to set_once" in m for m in messages)


ILLEGAL = ["", "   ", "\u00a0", "anonymous", "Guest", "NOT_AUTHENTICATED", '"undefined"',
           "'null'", "null", "None", "none", "NaN", "0", 0, "[object Object]", "true", None]


@pytest.mark.parametrize("illegal", ILLEGAL)
def test_illegal_distinct_ids_are_refused(posthog, make_tracker, illegal) -> None:
    tracker = make_tracker("production", sync_mode=True)
    with pytest.raises(InvalidDistinctId, match="user_id="):
        tracker.identify(illegal, "anon-1")
    with pytest.raises(InvalidDistinctId, match="anon_id="):
        tracker.identify("10000", illegal)
    with pytest.raises(InvalidDistinctId, match="user_id="):
        tracker.track(illegal, "signed_up", {"signup_method": "email"})
    assert posthog.requests == []


def test_ids_that_only_look_illegal_are_fine(posthog, make_tracker) -> None:
    tracker = make_tracker(sync_mode=True)
    for anon_id in ("NULL", "anonymous-7f3c", "00", "'guest"):
        tracker.identify("10000", anon_id)
    assert [e["properties"]["$anon_distinct_id"] for e in posthog.events] == [
        "NULL", "anonymous-7f3c", "00", "'guest"]


# -- configuration and lifecycle ---------------------------------------------------------------


def test_missing_or_wrong_settings_are_clear_errors(posthog, monkeypatch) -> None:
    with pytest.raises(TrackerConfigError, match=r"PostHog host is missing.*POSTHOG_HOST"):
        Tracker(api_key=KEY)
    with pytest.raises(TrackerConfigError,
                       match=r"PostHog project API key is missing.*POSTHOG_PROJECT_API_KEY"):
        Tracker(host=posthog.base_url)
    with pytest.raises(TrackerConfigError, match="personal API key"):
        Tracker(host=posthog.base_url, api_key="phx_personal")
    monkeypatch.setenv("POSTHOG_HOST", posthog.base_url)
    monkeypatch.setenv("POSTHOG_PROJECT_API_KEY", KEY)
    with Tracker(sync_mode=True) as tracker:
        tracker.track("10000", "signed_up", {"signup_method": "email"})
    assert posthog.bodies[0]["api_key"] == KEY


def test_close_sends_what_is_queued_and_refuses_more(posthog) -> None:
    tracker = Tracker(host=posthog.base_url, api_key=KEY, flush_interval=60, flush_at=1000)
    for _ in range(3):
        tracker.track("10000", "api_call_made", {"endpoint": "/v1/items"})
    assert posthog.requests == []  # still queued
    tracker.close()
    assert names(posthog) == ["api_call_made"] * 3
    with pytest.raises(RuntimeError, match="closed"):
        tracker.track("10000", "api_call_made", {"endpoint": "/v1/items"})


def test_package_level_track_and_identify_use_the_environment(posthog, monkeypatch) -> None:
    monkeypatch.setenv("POSTHOG_HOST", posthog.base_url)
    monkeypatch.setenv("POSTHOG_PROJECT_API_KEY", KEY)
    monkeypatch.setenv("JOURNEYS_TRACKING_MODE", "production")
    journeys.track("10000", "export_downloaded", {"format": "csv"}, "s-2")
    journeys.identify("10000", "anon-9", set_once={"utm_source": "bing"})
    journeys.capture.flush()
    assert names(posthog) == ["export_downloaded", "$identify"]
    assert posthog.events[0]["properties"]["$session_id"] == "s-2"
    assert journeys.capture.get_tracker().mode == "production"


def test_configure_replaces_the_process_tracker(posthog) -> None:
    first = journeys.capture.configure(host=posthog.base_url, api_key=KEY, sync_mode=True)
    second = journeys.capture.configure(mode="production", host=posthog.base_url, api_key=KEY,
                                      sync_mode=True)
    assert journeys.capture.get_tracker() is second
    with pytest.raises(RuntimeError, match="closed"):
        first.track("10000", "signed_up", {"signup_method": "email"})
    journeys.track("10000", "Signed_Up", {"signup_method": "email"})  # production: sent
    assert names(posthog) == ["Signed_Up"]


def test_importing_the_package_does_not_import_the_sdk() -> None:
    code = ("import sys, journeys, journeys.cli; assert 'posthog' not in sys.modules; "
            "import journeys.capture; assert journeys.track is journeys.capture.track; "
            "assert journeys.identify is journeys.capture.identify")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the app's Postgres events table ---------------------------------------------------------


@pytest.fixture
def app_schema(postgres: str, request: pytest.FixtureRequest) -> str:
    """The generator's app schema, fresh for this test, with users 10000 and 10001."""
    schema = "track_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(f'drop schema if exists "{schema}" cascade')
        con.execute(f'create schema "{schema}"')
        con.execute(f'set search_path to "{schema}"')
        con.execute(SCHEMA_SQL)
        con.execute("insert into users (id, email, signed_up_at, plan, updated_at) values "
                    "(10000, 'ada@example.com', '2026-05-01 09:00', 'trial', "
                    "'2026-05-01 09:00'), (10001, 'bob@example.com', '2026-05-01 09:00', "
                    "'trial', '2026-05-01 09:00')")
    return schema


def rows(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn) as con:
        return con.execute(query).fetchall()


def test_insert_into_writes_the_row_then_sends(posthog, make_tracker, postgres,
                                               app_schema) -> None:
    tracker = make_tracker(sync_mode=True, events_table=AppEventsTable(schema=app_schema))
    uuid = tracker.track("10000", "report_generated", {"report_type": "weekly"},
                         session_id="s-9", timestamp=WHEN, insert_into=postgres)
    tracker.track(10001, "file_uploaded", {"file_type": "csv"}, insert_into=postgres,
                  timestamp="2026-05-01T12:00:00+02:00")
    assert rows(postgres, "select id, user_id, name, properties, session_id, created_at "
                          f'from "{app_schema}".events order by id') == [
        (1, 10000, "report_generated", {"report_type": "weekly"}, "s-9",
         datetime(2026, 5, 1, 10, 0, 0, 123000)),
        (2, 10001, "file_uploaded", {"file_type": "csv"}, None, datetime(2026, 5, 1, 10, 0)),
    ]
    assert names(posthog) == ["report_generated", "file_uploaded"]
    assert posthog.events[0]["uuid"] == uuid


def test_insert_into_from_the_environment(posthog, make_tracker, postgres, app_schema,
                                          monkeypatch) -> None:
    monkeypatch.setenv("JOURNEYS_APP_DATABASE_URL", postgres)
    tracker = make_tracker(sync_mode=True, events_table=AppEventsTable(schema=app_schema))
    tracker.track("10000", "plan_upgraded", {"plan": "pro"}, timestamp=WHEN)
    assert rows(postgres, f'select user_id, name from "{app_schema}".events') == [
        (10000, "plan_upgraded")]


def test_a_violation_or_a_failed_insert_writes_and_sends_nothing(posthog, make_tracker,
                                                                 postgres, app_schema) -> None:
    tracker = make_tracker(sync_mode=True, events_table=AppEventsTable(schema=app_schema),
                           insert_into=postgres)
    with pytest.raises(TrackingPlanViolation):
        tracker.track("10000", "Signed_Up", {"signup_method": "email"})
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as raised:
        tracker.track("99999", "signed_up", {"signup_method": "email"})  # no such user
    assert "nothing was sent to PostHog" in "".join(raised.value.__notes__)
    assert rows(postgres, f'select count(*) from "{app_schema}".events') == [(0,)]
    assert posthog.requests == []


def test_prisma_style_quoted_table(posthog, make_tracker, postgres, app_schema) -> None:
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(f'create table "{app_schema}"."Event" (id text primary key, '
                    '"userId" text not null, name text not null, properties jsonb, '
                    '"sessionId" text, "createdAt" timestamp(3) not null)')
    table = AppEventsTable.prisma(schema=app_schema, session_id_column="sessionId")
    tracker = make_tracker(sync_mode=True, events_table=table)
    uuid = tracker.track("ck9user", "team_member_invited", {"invitee_role": "editor"},
                         session_id="s-3", timestamp=WHEN, insert_into=postgres)
    assert rows(postgres, 'select id, "userId", name, properties, "sessionId", "createdAt" '
                          f'from "{app_schema}"."Event"') == [
        (uuid, "ck9user", "team_member_invited", {"invitee_role": "editor"}, "s-3",
         datetime(2026, 5, 1, 10, 0, 0, 123000))]


def test_a_wrong_table_is_a_clear_error(make_tracker, postgres, app_schema) -> None:
    table = AppEventsTable.prisma(schema=app_schema)  # the generator's schema has no "Event"
    tracker = make_tracker(sync_mode=True, events_table=table)
    with pytest.raises(TrackerConfigError,
                       match=r"\.Event' does not exist.*AppEventsTable\.prisma"):
        tracker.track("10000", "signed_up", {"signup_method": "email"}, insert_into=postgres)
