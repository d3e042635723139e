"""The PostHog query-API pipeline against a fake PostHog that executes the HogQL it is sent
(journeys/stand_ins/posthog.py), loading into a real DuckDB file: keyset paging, incremental
overlap, retries, auth failures without leaking the key, kill and rerun, bad rows, drift.

Expected values come from the fake's own tables or are worked out by hand from the rows
each test plants, never from what the pipeline reports."""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import dlt
import duckdb
import orjson
import pytest
import requests
from dlt.pipeline.exceptions import PipelineStepFailed

from journeys import generator
from journeys.stand_ins.posthog import PostHogQueryAPI
from pipelines.posthog_api import (
    events_query,
    posthog_api,
    validate_distinct_id,
    validate_person,
)

PROJECT = "4242"
QUERY_PATH = f"/api/projects/{PROJECT}/query/"
KEY = "phx_test_personal_api_key_do_not_log_7f3a9c"
PERSON_A = "0190a1b2-0000-5000-8000-00000000000a"
PERSON_B = "0190a1b2-0000-5000-8000-00000000000b"
T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


# -- helpers -----------------------------------------------------------------------------
def uid(n: int) -> str:
    return str(uuidlib.UUID(int=n))


def event(n: int, at: dt.datetime, distinct_id: str = "user-1", **properties) -> dict:
    return {
        "uuid": uid(n),
        "timestamp": at.isoformat(),
        "created_at": (at + dt.timedelta(seconds=2)).isoformat(),
        "event": "$pageview",
        "distinct_id": distinct_id,
        "properties": {"$session_id": f"s-{n}", **properties},
        "person_id": PERSON_A,
        "person_properties": {"email": "a@example.com"},
    }


def small_api(events: list[dict]) -> PostHogQueryAPI:
    api = PostHogQueryAPI(project_id=PROJECT, api_key=KEY, timezone="America/New_York")
    api.add_events(events)
    api.add_persons(
        [
            {
                "id": PERSON_A,
                "created_at": T0,
                "is_identified": True,
                "properties": {"email": "a@example.com"},
            },
            {"id": PERSON_B, "created_at": T0, "is_identified": False, "properties": {}},
        ]
    )
    api.add_distinct_ids(
        [
            {"distinct_id": "user-1", "person_id": PERSON_A},
            {"distinct_id": "o'brien\\anon", "person_id": PERSON_A},  # quote and backslash
            {"distinct_id": "device-b", "person_id": PERSON_B},
        ]
    )
    return api


def ten_events() -> list[dict]:
    """Five events a minute apart, four sharing one timestamp to the microsecond, one after:
    with page_size 3 the pages are [1-3] [4-6] [7-9] [10], so a page edge (6|7) falls
    inside the shared timestamp and another (9|10) right after it."""
    shared = T0 + dt.timedelta(minutes=5, microseconds=500_123)
    return [
        *(event(n, T0 + dt.timedelta(minutes=n - 1)) for n in range(1, 6)),
        *(event(n, shared) for n in range(6, 10)),
        event(10, T0 + dt.timedelta(minutes=6)),
    ]


def make_pipeline(tmp_path: Path, name: str = "posthog_api_test") -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        dataset_name="raw_posthog",
        pipelines_dir=str(tmp_path / "pl"),
    )


def rows(pipeline: dlt.Pipeline, sql: str) -> list[tuple]:
    path = pipeline.destination.config_params["credentials"]
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def table_exists(pipeline: dlt.Pipeline, table: str) -> bool:
    return bool(
        rows(
            pipeline,
            "select 1 from information_schema.tables "
            f"where table_schema = 'raw_posthog' and table_name = '{table}'",
        )
    )


def queries(api: PostHogQueryAPI) -> list[str]:
    return [r.body["query"]["query"] for r in api.requests if isinstance(r.body, dict)]


def connect(api: PostHogQueryAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the source at the fake through dlt's config providers (env)."""
    monkeypatch.setenv("SOURCES__POSTHOG_API__BASE_URL", api.base_url)
    monkeypatch.setenv("SOURCES__POSTHOG_API__PROJECT_ID", PROJECT)
    monkeypatch.setenv("SOURCES__POSTHOG_API__PERSONAL_API_KEY", KEY)


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.02")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "0.1")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("posthog_api_gen")
    generator.generate(out, users=20, seed=3)
    return out / "posthog" / "events"


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> Iterator[PostHogQueryAPI]:
    with small_api(ten_events()) as api:
        connect(api, monkeypatch)
        yield api


# -- 1. full load ----------------------------------------------------------------------
def test_full_load_matches_the_fake_tables_despite_a_new_york_project(
    export_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PostHogQueryAPI.from_export(export_dir, project_id=PROJECT, api_key=KEY) as api:
        connect(api, monkeypatch)
        # the fake really answers in New York time, so the parsing below is exercised
        answer = requests.post(
            api.base_url + QUERY_PATH,
            json={"query": {"kind": "HogQLQuery", "query": "SELECT timestamp FROM events"}},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        ).json()
        assert answer["timezone"] == "America/New_York"
        assert answer["results"][0][0].endswith(("-04:00", "-05:00"))
        api.requests.clear()

        pipeline = make_pipeline(tmp_path)
        pipeline.run(posthog_api(page_size=500))

        events = dict(api.query("select uuid::varchar, timestamp from events"))
        persons = set(api.query("select id::varchar, is_identified from persons"))
        mappings = set(api.query("select distinct_id, person_id::varchar from person_distinct_ids"))
        with_session = api.query(
            "select count(*) from events "
            "where json_extract_string(properties, '$.\"$session_id\"') is not null"
        )[0][0]
        sent = queries(api)
        paths = {(r.method, r.path) for r in api.requests}
        query_strings = [r.query for r in api.requests]
        auth = {r.headers.get("authorization") for r in api.requests}

    assert len(events) > 3_000  # several pages at 500 a page
    loaded = dict(rows(pipeline, "select uuid, timestamp from raw_posthog.api_events"))
    assert loaded == events  # same uuids, same instants (aware datetimes compare as instants)
    assert set(rows(pipeline, "select id, is_identified from raw_posthog.api_persons")) == persons
    loaded_mappings = "select distinct_id, person_id from raw_posthog.api_person_distinct_ids"
    assert set(rows(pipeline, loaded_mappings)) == mappings
    # properties is a JSON column, queryable by key
    assert (
        rows(
            pipeline,
            "select count(*) from raw_posthog.api_events "
            "where json_extract_string(properties, '$.\"$session_id\"') is not null",
        )[0][0]
        == with_session
    )
    column_types = dict(
        rows(
            pipeline,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw_posthog' and table_name = 'api_events'",
        )
    )
    assert column_types["properties"] == "JSON"
    assert column_types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert not [c for c in column_types if "__v_" in c]
    assert not table_exists(pipeline, "_rejected_records")  # generated data is clean
    # events paged 500 at a time: full pages, then one short page ends the loop
    event_queries = [q for q in sent if "FROM events" in q]
    assert len(event_queries) == len(events) // 500 + 1
    assert all("OFFSET" not in q for q in sent)
    # only the query endpoint, the key only as a Bearer header, never in a URL
    assert paths == {("POST", QUERY_PATH)}
    assert query_strings == [{}] * len(sent)
    assert auth == {f"Bearer {KEY}"}


# -- 2. idempotent, incremental with overlap, page-edge ties ----------------------------
def test_reruns_add_nothing_and_pick_up_late_and_new_events(
    small: PostHogQueryAPI, tmp_path: Path
) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.run(posthog_api(page_size=3, overlap_seconds=3600))
    count = "select count(*), count(distinct uuid) from raw_posthog.api_events"
    assert rows(pipeline, count) == [(10, 10)]  # the shared timestamp spans a page edge
    assert rows(
        pipeline,
        f"select count(*) from raw_posthog.api_events where uuid in ('{uid(6)}', '{uid(7)}', "
        f"'{uid(8)}', '{uid(9)}')",
    ) == [(4,)]
    cursor = pipeline.state["sources"]["posthog_api"]["resources"]["api_events"]["cursor"]
    last = T0 + dt.timedelta(minutes=6)  # event 10, received 2 s later
    assert dt.datetime.fromisoformat(cursor["created_at"]) == last + dt.timedelta(seconds=2)

    pipeline.run(posthog_api(page_size=3, overlap_seconds=3600))
    assert rows(pipeline, count) == [(10, 10)]
    assert rows(pipeline, "select count(*) from raw_posthog.api_persons") == [(2,)]
    assert rows(pipeline, "select count(*) from raw_posthog.api_person_distinct_ids") == [(3,)]

    small.add_events(
        [
            # received 30 min before the cursor but stored after the last run read
            # (ClickHouse ingestion lag): inside the 1 h re-read of created_at
            event(11, last - dt.timedelta(minutes=30)),
            event(12, last + dt.timedelta(minutes=4)),  # new
            event(13, last + dt.timedelta(minutes=5)),  # new
            event(14, last - dt.timedelta(hours=2)),  # received before the re-read: not seen
        ]
    )
    pipeline.run(posthog_api(page_size=3, overlap_seconds=3600))
    assert rows(pipeline, count) == [(13, 13)]
    loaded = {r[0] for r in rows(pipeline, "select uuid from raw_posthog.api_events")}
    assert {uid(11), uid(12), uid(13)} <= loaded
    assert uid(14) not in loaded  # the documented limit of the overlap
    cursor = pipeline.state["sources"]["posthog_api"]["resources"]["api_events"]["cursor"]
    assert dt.datetime.fromisoformat(cursor["created_at"]) == last + dt.timedelta(
        minutes=5, seconds=2
    )
    # every query asked for fresh results, never the 6-hour cache
    assert {r.body["refresh"] for r in small.requests} == {"force_blocking"}
    # the third run read what was received from one hour before the second's cursor
    # (09:06:02 UTC), with timestamps from three days before that
    third_run_first = [q for q in queries(small) if "FROM events" in q][-2]
    assert "created_at >= toDateTime('2026-03-01T09:06:02.000000+00:00')" in third_run_first
    assert "timestamp >= toDateTime('2026-02-26T09:06:02.000000+00:00')" in third_run_first
    assert "ORDER BY created_at, uuid" in third_run_first


# -- 2b. late events: received now, happened hours or days ago ------------------------------
def received(n: int, age: dt.timedelta, at: dt.datetime) -> dict:
    """An event PostHog received at `at` that happened `age` earlier (an offline queue)."""
    row = event(n, at - age)
    row["created_at"] = at.isoformat()
    return row


LATE_AGES = [  # 15 ages between 5 minutes and 3 days, picked by hand
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=20),
    dt.timedelta(hours=1),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=12),
    dt.timedelta(days=1),
    dt.timedelta(days=1, hours=6),
    dt.timedelta(days=1, hours=18),
    dt.timedelta(days=2),
    dt.timedelta(days=2, hours=6),
    dt.timedelta(days=2, hours=12),
    dt.timedelta(days=2, hours=20),
    dt.timedelta(days=2, hours=23, minutes=59),
    dt.timedelta(days=3),
]


def test_late_events_received_after_the_cursor_land_on_the_next_run(
    small: PostHogQueryAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.run(posthog_api(page_size=4))
    first_cursor = T0 + dt.timedelta(minutes=6, seconds=2)  # event 10 was received then
    state = pipeline.state["sources"]["posthog_api"]["resources"]["api_events"]
    assert dt.datetime.fromisoformat(state["cursor"]["created_at"]) == first_cursor

    # ten minutes after the first run PostHog receives 15 late events, some a few at
    # the same instant (so (created_at, uuid) ties cross page edges), and one 4 days old
    now = first_cursor + dt.timedelta(minutes=10)
    late = [
        received(100 + i, age, now + dt.timedelta(seconds=i // 3))
        for i, age in enumerate(LATE_AGES)
    ]
    too_old = received(200, dt.timedelta(days=4), now)
    small.add_events([*late, too_old])
    pipeline.run(posthog_api(page_size=4))

    count = "select count(*), count(distinct uuid) from raw_posthog.api_events"
    assert rows(pipeline, count) == [(25, 25)]  # 10 + 15, each once
    loaded = {r[0] for r in rows(pipeline, "select uuid from raw_posthog.api_events")}
    assert loaded == {uid(n) for n in range(1, 11)} | {uid(100 + i) for i in range(15)}
    # happened 4 days before it was received, more than lookback_days (3): not read
    assert uid(200) not in loaded
    assert not table_exists(pipeline, "_rejected_records")
    state = pipeline.state["sources"]["posthog_api"]["resources"]["api_events"]
    assert dt.datetime.fromisoformat(state["cursor"]["created_at"]) == now + dt.timedelta(
        seconds=14 // 3
    )
    # a rerun re-reads the last hour of receipts and adds nothing
    pipeline.run(posthog_api(page_size=4))
    assert rows(pipeline, count) == [(25, 25)]
    # one run with a longer lookback (a backfill, set as the README says) fetches the
    # 4-day-old event too
    monkeypatch.setenv("SOURCES__POSTHOG_API__LOOKBACK_DAYS", "7")
    pipeline.run(posthog_api(page_size=4))
    assert rows(pipeline, count) == [(26, 26)]


def test_a_cursor_saved_on_timestamp_by_an_older_version_is_read_as_received(
    small: PostHogQueryAPI, tmp_path: Path
) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.run(posthog_api(page_size=4))
    old = (T0 + dt.timedelta(minutes=6)).isoformat()
    with pipeline.managed_state() as state:  # what the previous version saved
        state["sources"]["posthog_api"]["resources"]["api_events"]["cursor"] = {"timestamp": old}
    pipeline.run(posthog_api(page_size=4))
    first = [q for q in queries(small) if "FROM events" in q][-2]  # the second run's first
    assert "created_at >= toDateTime('2026-03-01T09:06:00.000000+00:00')" in first
    assert rows(pipeline, "select count(*) from raw_posthog.api_events") == [(10,)]
    resource = pipeline.state["sources"]["posthog_api"]["resources"]["api_events"]
    assert set(resource["cursor"]) == {"created_at"}


# -- 3. retries ------------------------------------------------------------------------
def test_throttling_server_errors_and_dropped_connections_are_retried(
    small: PostHogQueryAPI, tmp_path: Path
) -> None:
    def second_events_page(request) -> bool:
        return "(created_at, uuid) >" in request.body["query"]["query"]

    def persons_page(request) -> bool:
        return "FROM persons" in request.body["query"]["query"]

    small.throttle_next(2)  # the very first request, twice: 429 without Retry-After
    small.fail_next(1, status=500, body={"detail": "Server Error"}, when=second_events_page)
    small.drop_next(1, when=persons_page)
    pipeline = make_pipeline(tmp_path)
    pipeline.run(posthog_api(page_size=3))

    assert rows(pipeline, "select count(*) from raw_posthog.api_events") == [(10,)]
    assert rows(pipeline, "select count(*) from raw_posthog.api_persons") == [(2,)]
    assert rows(pipeline, "select count(*) from raw_posthog.api_person_distinct_ids") == [(3,)]
    # pages at 3 rows: 10 events = 4; 2 persons = 1; 3 mappings = a full page and an
    # empty one (only a short page ends the loop); plus the 4 faulted attempts
    assert small.count("POST", QUERY_PATH) == 4 + 1 + 2 + 4


# -- 4. permanent auth failure, key never shown ------------------------------------------
def test_a_rejected_key_fails_clearly_without_showing_the_key(
    small: PostHogQueryAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture,
) -> None:
    wrong = "phx_revoked_key_must_never_appear_91b2"
    monkeypatch.setenv("SOURCES__POSTHOG_API__PERSONAL_API_KEY", wrong)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    dlt_logger = logging.getLogger("dlt")
    dlt_logger.addHandler(caplog.handler)  # dlt's logger does not propagate to root
    caplog.set_level(logging.DEBUG)  # urllib3 and everything else on the root logger
    caplog.set_level(logging.DEBUG, logger="dlt")  # dlt configures its logger once a process
    try:
        pipeline = make_pipeline(tmp_path)
        with pytest.raises(PipelineStepFailed) as failure:
            pipeline.run(posthog_api(page_size=3))
    finally:
        dlt_logger.removeHandler(caplog.handler)

    message = str(failure.value)
    assert "posthog_api" in message
    assert QUERY_PATH in message
    assert "401" in message and "authentication_failed" in message
    assert "PERSONAL_API_KEY" in message  # says what to fix
    assert small.count("POST", QUERY_PATH) == 1  # a permanent 4xx is not retried
    assert any("Making POST request" in r.getMessage() for r in caplog.records)  # logs seen
    shown = "".join(
        [
            message,
            repr(failure.value),
            "".join(traceback.format_exception(failure.value)),
            caplog.text,
            *capfd.readouterr(),
        ]
    )
    assert wrong not in shown
    assert not table_exists(pipeline, "api_events")


# -- 5. killed midway, then rerun ----------------------------------------------------------
def test_a_run_killed_after_some_pages_reruns_to_exactly_a_clean_load(
    small: PostHogQueryAPI, tmp_path: Path
) -> None:
    pages = 0

    def crash_on_third_page(item):
        nonlocal pages
        pages += 1
        if pages == 3:
            raise RuntimeError("killed mid-run")
        return item

    pipeline = make_pipeline(tmp_path)
    source = posthog_api(page_size=3)
    source.api_events.add_map(crash_on_third_page)
    with pytest.raises(PipelineStepFailed):
        pipeline.run(source)
    assert not table_exists(pipeline, "api_events")  # nothing half-loaded
    assert "cursor" not in (
        pipeline.state.get("sources", {})
        .get("posthog_api", {})
        .get("resources", {})
        .get("api_events", {})
    )

    # killed again, this time after extract and normalize, before the load
    pipeline.extract(posthog_api(page_size=3))
    pipeline.normalize()
    assert pipeline.has_pending_data
    pipeline.load()  # what journeys.ingest does first with a pending package
    pipeline.run(posthog_api(page_size=3))

    clean = make_pipeline(tmp_path, "posthog_api_clean")
    clean.run(posthog_api(page_size=3))
    every_column = (
        "select uuid, event, distinct_id, timestamp, created_at, properties::varchar, "
        "elements_chain, person_id, person_properties::varchar from raw_posthog.api_events "
        "order by uuid"
    )
    assert rows(pipeline, every_column) == rows(clean, every_column)
    assert len(rows(pipeline, every_column)) == 10
    for table in ("api_persons", "api_person_distinct_ids"):
        everything = f"select * from raw_posthog.{table} order by 1"
        assert rows(pipeline, everything) == rows(clean, everything)


# -- 6. bad rows -----------------------------------------------------------------------------
def test_bad_rows_go_to_rejected_records_and_the_rest_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # in created_at order, pages of 3: [1 2 3] [4 5 6] [6 7 8] [9 10 11] []
    # (row 6 ends a full page without a uuid, so the next page starts after row 5)
    at = {n: T0 + dt.timedelta(minutes=n) for n in range(1, 12)}
    good = [event(n, at[n]) for n in (1, 2, 4, 5, 11)]
    garbled = event(3, at[3])  # its timestamp arrives unparseable
    no_uuid = [event(6, at[6]), event(9, at[9])]  # their uuids arrive blank
    empty_distinct_id = event(7, at[7], distinct_id="")
    blank_distinct_id = event(8, at[8], distinct_id=" \t ")
    future = event(10, dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    future["created_at"] = at[10].isoformat()
    planted = [*good, garbled, *no_uuid, empty_distinct_id, blank_distinct_id, future]
    with small_api(planted) as api:
        connect(api, monkeypatch)
        api.corrupt(uid(3), timestamp="not a date")
        api.corrupt(uid(6), uuid="   ")
        api.corrupt(uid(9), uuid="   ")
        api.add_distinct_ids([{"distinct_id": d, "person_id": PERSON_B} for d in ("", "  ")])
        pipeline = make_pipeline(tmp_path)
        pipeline.run(posthog_api(page_size=3))
        pipeline.run(posthog_api(page_size=3))  # the overlap re-reads them: still one each
        sent = queries(api)

    loaded = {r[0] for r in rows(pipeline, "select uuid from raw_posthog.api_events")}
    assert loaded == {uid(n) for n in (1, 2, 4, 5, 11)}
    rejected = rows(
        pipeline,
        "select location, reason, source, raw from raw_posthog._rejected_records "
        "where location like 'events%' order by 1",
    )
    by_uuid = sorted(
        [
            (f"events uuid={uid(3)}", "unparseable_timestamp"),
            (f"events uuid={uid(7)}", "missing_distinct_id"),
            (f"events uuid={uid(8)}", "missing_distinct_id"),
            (f"events uuid={uid(10)}", "timestamp_in_future"),
        ]
    )
    with_uuid = [(loc, reason) for loc, reason, _, _ in rejected if "uuid=" in loc]
    assert with_uuid == by_uuid
    # the two rows without a uuid are two rejects, each kept once over both runs
    without = [(loc, reason, raw) for loc, reason, _, raw in rejected if "uuid=" not in loc]
    assert [reason for _, reason, _ in without] == ["missing_uuid", "missing_uuid"]
    assert len({loc for loc, _, _ in without}) == 2
    sent_at = {dt.datetime.fromisoformat(orjson.loads(raw)["timestamp"]) for *_, raw in without}
    assert sent_at == {at[6], at[9]}
    assert {source for _, _, source, _ in rejected} == {"posthog_api"}
    for location, _, _, raw in rejected:  # the row as PostHog sent it
        if "uuid=" in location:
            assert location.removeprefix("events uuid=") in raw
    assert any("not a date" in raw for _, _, _, raw in rejected)
    # a row without a readable key never becomes the keyset: row 6 ended page two, so
    # page three started after row 5
    assert any(f"toUUID('{uid(5)}')" in q for q in sent)
    assert not any("toUUID('   ')" in q for q in sent)
    # mappings with an empty or blank distinct_id are rejected too, not loaded
    mappings = "select distinct_id from raw_posthog.api_person_distinct_ids order by 1"
    assert rows(pipeline, mappings) == [("device-b",), ("o'brien\\anon",), ("user-1",)]
    assert rows(
        pipeline,
        "select reason, count(*) from raw_posthog._rejected_records "
        "where location like 'person_distinct_ids%' group by 1",
    ) == [("missing_distinct_id", 2)]


def test_a_person_without_an_id_is_rejected() -> None:
    for blank in (None, "", "   "):
        assert validate_person({"id": blank, "created_at": None}, dt.UTC) == (None, "missing_id")
        assert validate_distinct_id({"distinct_id": "d", "person_id": blank}, dt.UTC) == (
            None,
            "missing_person_id",
        )


# -- 7. schema drift -----------------------------------------------------------------------
def test_a_new_property_loads_without_manual_steps(small: PostHogQueryAPI, tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.run(posthog_api(page_size=3))
    columns = (
        "select column_name from information_schema.columns "
        "where table_schema = 'raw_posthog' and table_name = 'api_events' order by 1"
    )
    before = rows(pipeline, columns)

    later = T0 + dt.timedelta(minutes=20)
    small.add_events(
        [
            event(
                20,
                later,
                plan_tier="scale",
                **{"$feature/new-onboarding": True, "Plan Type": {"seats": 12}},
            )
        ]
    )
    pipeline.run(posthog_api(page_size=3))

    assert rows(pipeline, columns) == before  # new keys stay inside the JSON column
    assert rows(
        pipeline,
        "select json_extract_string(properties, '$.plan_tier'), "
        "json_extract(properties, '$.\"$feature/new-onboarding\"')::boolean, "
        "json_extract(properties, '$.\"Plan Type\".seats')::int "
        f"from raw_posthog.api_events where uuid = '{uid(20)}'",
    ) == [("scale", True, 12)]
    assert rows(pipeline, "select count(*) from raw_posthog.api_events") == [(11,)]


# -- the fake itself, and the refusals the pipeline must not trigger ------------------------
def test_the_fake_answers_like_the_query_api(export_dir: Path) -> None:
    with PostHogQueryAPI.from_export(export_dir, project_id=PROJECT, api_key=KEY) as api:

        def ask(hogql: str, refresh: str = "blocking", key: str = KEY) -> requests.Response:
            return requests.post(
                api.base_url + QUERY_PATH,
                json={"query": {"kind": "HogQLQuery", "query": hogql}, "refresh": refresh},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )

        unlimited = ask("SELECT uuid, event FROM events ORDER BY timestamp, uuid").json()
        assert len(unlimited["results"]) == 100
        assert (unlimited["hasMore"], unlimited["limit"], unlimited["offset"]) == (True, 100, 0)
        assert unlimited["types"] == [["uuid", "UUID"], ["event", "String"]]
        limited = ask("SELECT uuid FROM events ORDER BY timestamp, uuid LIMIT 7").json()
        assert len(limited["results"]) == 7
        assert (limited["hasMore"], limited["limit"], limited["offset"]) == (None, None, None)
        assert ask("SELECT uuid FROM events ORDER BY timestamp, uuid LIMIT 7").json()["is_cached"]
        fresh = ask("SELECT uuid FROM events ORDER BY timestamp, uuid LIMIT 7", "force_blocking")
        assert fresh.json()["is_cached"] is False
        for refused in (
            "SELECT uuid FROM events LIMIT 10 OFFSET 10",
            "SELECT uuid FROM events LIMIT 50001",
            "SELECT no_such_field FROM events LIMIT 1",
        ):
            answer = ask(refused)
            assert answer.status_code == 400
            assert answer.json()["code"] == "hogql_query_error"
        denied = ask("SELECT uuid FROM events LIMIT 1", key="phx_wrong")
        assert denied.status_code == 401
        assert denied.json()["code"] == "authentication_failed"


def test_the_fake_pages_events_by_created_at_and_uuid_like_a_plain_sort(export_dir: Path) -> None:
    """The keyset query the pipeline sends, answered by the fake, against a plain-Python
    sort of the export files (one row per uuid, the latest `_inserted_at`)."""
    latest: dict[str, dict] = {}
    for path in sorted(export_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if (
                row["uuid"] not in latest
                or row["_inserted_at"] > latest[row["uuid"]]["_inserted_at"]
            ):
                latest[row["uuid"]] = row
    expected = sorted(
        (dt.datetime.fromisoformat(r["created_at"]), uuidlib.UUID(r["uuid"]))
        for r in latest.values()
    )
    since = expected[len(expected) // 3][0]
    earliest = since - dt.timedelta(days=2)
    expected = [
        (created, u)
        for created, u in expected
        if created >= since and dt.datetime.fromisoformat(latest[str(u)]["timestamp"]) >= earliest
    ]
    with PostHogQueryAPI.from_export(export_dir, project_id=PROJECT, api_key=KEY) as api:
        got: list[tuple[dt.datetime, uuidlib.UUID]] = []
        after = None
        while True:
            answer = requests.post(
                api.base_url + QUERY_PATH,
                json={
                    "query": {
                        "kind": "HogQLQuery",
                        "query": events_query(since, earliest, after, 250),
                    },
                    "refresh": "force_blocking",
                },
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=10,
            ).json()
            columns = answer["columns"]
            page = [dict(zip(columns, r, strict=True)) for r in answer["results"]]
            got += [
                (dt.datetime.fromisoformat(r["created_at"]), uuidlib.UUID(r["uuid"])) for r in page
            ]
            if len(page) < 250:
                break
            after = (got[-1][0], str(got[-1][1]))
    assert len(expected) > 500  # several pages
    assert got == expected


def test_a_refused_query_fails_at_once_and_bad_settings_fail_early(
    small: PostHogQueryAPI, tmp_path: Path
) -> None:
    small.fail_next(
        1,
        status=400,
        body={
            "type": "validation_error",
            "code": "hogql_query_error",
            "detail": "Unable to resolve field: nope",
            "attr": None,
        },
    )
    with pytest.raises(PipelineStepFailed) as failure:
        make_pipeline(tmp_path).run(posthog_api(page_size=3))
    message = str(failure.value)
    assert "posthog_api" in message and QUERY_PATH in message
    assert "hogql_query_error" in message and "Unable to resolve field: nope" in message
    assert small.count("POST", QUERY_PATH) == 1

    with pytest.raises(ValueError, match="page_size must be between 1 and 50000"):
        posthog_api(page_size=50_001)
