"""The Intercom pipeline against a fake Intercom over real HTTP, into a real DuckDB file.

Expected values come from the records the tests hand to the fake (or the generator's
pages), never from the pipeline's own output."""

from __future__ import annotations

import logging
import re
import time
import traceback
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
import requests
from dlt.pipeline.exceptions import PipelineStepFailed

from journeys import generator
from journeys.ingest import SOURCES, IngestError, pipeline_for, run_source
from journeys.paths import DataDir
from journeys.stand_ins.intercom import IntercomAPI
from pipelines.intercom import intercom

DAY = 86_400
D0 = 1_773_100_800  # 2026-03-10 00:00:00 UTC
T = D0 + 14 * 3600  # the latest updated_at in the hand-made set: 14:00 on D0
CONTACT_COLUMNS = (
    "id", "role", "external_id", "email", "created_at", "updated_at", "signed_up_at",
    "last_seen_at", "location__country", "location__city",
)


# -- records -------------------------------------------------------------------------------
def contact(n: int, updated_at: int, **fields: Any) -> dict:
    """A 2.14-shaped contact; every third one a lead without external_id."""
    user = n % 3 != 0
    return {
        "type": "contact",
        "id": f"{n:024x}",
        "workspace_id": "ecahpwf5",
        "external_id": f"user-{n}" if user else None,
        "role": "user" if user else "lead",
        "email": f"person{n}@example.com",
        "email_domain": "example.com",
        "name": f"Person {n}",
        "created_at": updated_at - 5 * DAY,
        "updated_at": updated_at,
        "signed_up_at": updated_at - 4 * DAY if user else None,
        "last_seen_at": updated_at,
        "location": {"type": "location", "country": "Germany", "region": "Berlin",
                     "city": "Berlin", "country_code": "DEU", "continent_code": "EU"},
        "custom_attributes": {"Plan Type": "trial" if user else None, "seats": n},
        "tags": {"type": "list", "data": [], "url": f"/contacts/{n:024x}/tags",
                 "total_count": 0, "has_more": False},
        **fields,
    }


def conversation(n: int, people: list[dict], updated_at: int, state: str = "closed") -> dict:
    first = people[0]
    return {
        "type": "conversation",
        "id": str(100_000_000 + n),
        "title": None,
        "created_at": updated_at - DAY,
        "updated_at": updated_at,
        "waiting_since": None,
        "snoozed_until": None,
        "open": state != "closed",
        "state": state,
        "read": True,
        "priority": "not_priority",
        "admin_assignee_id": 5017691,
        "team_assignee_id": None,
        "tags": {"type": "tag.list", "tags": []},
        "source": {
            "type": "conversation", "id": str(n * 7), "delivered_as": "customer_initiated",
            "subject": "", "body": "<p>Hi</p>", "attachments": [], "url": None,
            "redacted": False,
            "author": {"type": first["role"], "id": first["id"], "name": first["name"],
                       "email": first["email"]},
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [{"type": "contact", "id": p["id"], "external_id": p["external_id"]}
                         for p in people],
        },
        "custom_attributes": {"Issue Type": "billing"},
        "statistics": {"type": "conversation_statistics", "time_to_admin_reply": 600,
                       "first_close_at": updated_at if state == "closed" else None,
                       "count_reopens": 0},
    }


def hand_made() -> tuple[list[dict], list[dict]]:
    """12 contacts updated over the 9 days up to T (latest first in id order), and 4
    conversations, one of them with two contacts."""
    contacts = [contact(n, T - (n - 1) * 17 * 3600) for n in range(1, 13)]
    conversations = [
        conversation(1, [contacts[0]], D0 - 2 * DAY),
        conversation(2, [contacts[1], contacts[2]], D0 - DAY, state="open"),
        conversation(3, [contacts[3]], D0 + 3600),
        conversation(4, [contacts[5]], D0 - 3 * DAY, state="snoozed"),
    ]
    return contacts, conversations


# -- helpers -------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.01")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "2")
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


def make_pipeline(tmp_path: Path, db: str = "raw.duckdb", name: str = "intercom_test"):
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / db)),
        dataset_name="raw_intercom",
        pipelines_dir=str(tmp_path / f"pl-{name}"),
    )


def source(api: IntercomAPI, page_size: int = 5):
    return intercom(base_url=api.base_url, access_token=api.token, page_size=page_size)


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def contacts_in(db: Path) -> dict[str, tuple]:
    rows = query(db, f"select {', '.join(CONTACT_COLUMNS)} from raw_intercom.contacts")
    return {row[0]: row for row in rows}


def expected_contacts(records: list[dict]) -> dict[str, tuple]:
    flat = []
    for r in records:
        location = r.get("location") or {}
        flat.append((r["id"], r["role"], r["external_id"], r["email"], r["created_at"],
                     r["updated_at"], r["signed_up_at"], r["last_seen_at"],
                     location.get("country"), location.get("city")))
    return {row[0]: row for row in flat}


def links_in(db: Path) -> set[tuple]:
    return set(query(db, """
        select c.id, l.id, l.external_id
        from raw_intercom.conversations c
        join raw_intercom.conversations__contacts__contacts l on l._dlt_parent_id = c._dlt_id
    """))


def expected_links(conversations: list[dict]) -> set[tuple]:
    return {(c["id"], p["id"], p["external_id"])
            for c in conversations for p in c["contacts"]["contacts"]}


def data_columns(db: Path, table: str) -> list[str]:
    """Column names without dlt's load bookkeeping or the time a reject was seen."""
    return [r[0] for r in query(db, f"""
        select column_name from information_schema.columns
        where table_schema = 'raw_intercom' and table_name = '{table}'
          and column_name not like '\\_dlt%' escape '\\' and column_name <> 'rejected_at'
        order by column_name
    """)]


def rows_by_id(db: Path, table: str) -> dict[str, dict]:
    """Every column of every row except dlt's load bookkeeping, keyed by id."""
    columns = data_columns(db, table)
    rows = query(db, f"select {', '.join(columns)} from raw_intercom.{table}")
    return {row[columns.index("id")]: dict(zip(columns, row, strict=True)) for row in rows}


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row of every data table, without dlt's load bookkeeping."""
    tables = [r[0] for r in query(db, """
        select table_name from information_schema.tables
        where table_schema = 'raw_intercom' and table_name not like '\\_dlt%' escape '\\'
    """)]
    result = {}
    for table in tables:
        columns = data_columns(db, table)
        if table == "conversations__contacts__contacts":  # key the links by their parent
            rows = query(db, f"""
                select c.id, {', '.join('l.' + column for column in columns)}
                from raw_intercom.{table} l
                join raw_intercom.conversations c on l._dlt_parent_id = c._dlt_id
            """)
        else:
            rows = query(db, f"select {', '.join(columns)} from raw_intercom.{table}")
        result[table] = sorted(rows, key=repr)
    return result


def variant_columns(db: Path) -> list[tuple]:
    return query(db, """
        select table_name, column_name from information_schema.columns
        where table_schema = 'raw_intercom' and column_name like '%\\_\\_v\\_%' escape '\\'
    """)


def incremental_state(pipeline, resource: str) -> dict:
    resources = pipeline.state["sources"]["intercom"]["resources"]
    return resources[resource]["incremental"]["updated_at"]


# -- the fake itself behaves like Intercom -------------------------------------------------
def test_the_fake_matches_contact_dates_by_day_like_intercom() -> None:
    people = [contact(1, D0 + 3600), contact(2, D0 + 10 * 3600), contact(3, D0 + DAY + 3600)]
    chats = [conversation(1, [people[0]], D0 + 5 * 3600)]
    with IntercomAPI(people, chats) as api:
        def search(kind: str, operator: str, value: Any) -> requests.Response:
            return requests.post(
                f"{api.base_url}/{kind}/search",
                json={"query": {"field": "updated_at", "operator": operator, "value": value}},
                headers={"Authorization": f"Bearer {api.token}", "Intercom-Version": "2.14"},
                timeout=5,
            )

        # `>` 05:00 on D0 skips the rest of D0 (10:00 too): it starts at D0 + 1 day
        after = search("contacts", ">", D0 + 5 * 3600).json()
        assert [c["id"] for c in after["data"]] == [people[2]["id"]]
        assert after["total_count"] == 1 and "next" not in after["pages"]
        same_day = search("contacts", "=", D0 + 5 * 3600).json()["data"]
        assert {c["id"] for c in same_day} == {people[0]["id"], people[1]["id"]}
        refused = search("contacts", ">=", D0)
        assert refused.status_code == 400 and refused.json()["type"] == "error.list"
        # conversations: `>` is "greater or equal", not truncated
        assert len(search("conversations", ">", D0 + 5 * 3600).json()["conversations"]) == 1
        assert search("conversations", ">", D0 + 5 * 3600 + 1).json()["conversations"] == []

        listed = requests.get(
            f"{api.base_url}/contacts", params={"per_page": 2},
            headers={"Authorization": f"Bearer {api.token}", "Intercom-Version": "2.14"},
            timeout=5,
        )
        assert len(listed.json()["data"]) == 2 and listed.headers["X-RateLimit-Limit"]
        bad_cursor = requests.get(
            f"{api.base_url}/contacts", params={"starting_after": "not-a-cursor"},
            headers={"Authorization": f"Bearer {api.token}", "Intercom-Version": "2.14"},
            timeout=5,
        )
        assert bad_cursor.status_code == 400
        assert "starting_after" in bad_cursor.json()["errors"][0]["message"]
        unauthorized = requests.get(f"{api.base_url}/contacts", timeout=5)
        assert unauthorized.status_code == 401
        assert unauthorized.json()["errors"][0] == {
            "code": "unauthorized", "message": "Access Token Invalid"}
        assert "X-RateLimit-Reset" not in unauthorized.headers
        assert len(api.unversioned) == 1  # the unauthenticated call above sent no version

        api.window_limit = 0  # over the 10-second window's limit: 429, no Retry-After
        limited = search("contacts", ">", 0)
        assert limited.status_code == 429 and "Retry-After" not in limited.headers
        assert limited.json()["errors"][0]["code"] == "rate_limit_exceeded"
        assert int(limited.headers["X-RateLimit-Reset"]) > time.time()


# -- 1. full load --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated_intercom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("intercom-generated")
    generator.generate(out, users=300, seed=5)
    return out


def test_full_load_gives_exactly_the_apis_contacts_conversations_and_links(
    generated_intercom: Path, tmp_path: Path
) -> None:
    with IntercomAPI.from_generated(generated_intercom) as api:
        assert len(api.contacts) > 150  # more than one page of 150
        pipeline = make_pipeline(tmp_path)
        pipeline.run(source(api, page_size=150))
        db = tmp_path / "raw.duckdb"

        assert contacts_in(db) == expected_contacts(api.contacts)
        conversations = query(db, "select id, state, open, created_at, updated_at, "
                                  "source__type, source__delivered_as, source__author__id, "
                                  "statistics__time_to_admin_reply from raw_intercom.conversations")
        assert sorted(conversations) == sorted(
            (c["id"], c["state"], c["open"], c["created_at"], c["updated_at"],
             c["source"]["type"], c["source"]["delivered_as"], c["source"]["author"]["id"],
             c["statistics"]["time_to_admin_reply"])
            for c in api.conversations
        )
        assert links_in(db) == expected_links(api.conversations)
        plans = dict(query(db, "select id, json_extract_string(custom_attributes, '$.plan') "
                               "from raw_intercom.contacts"))
        assert plans == {c["id"]: c["custom_attributes"].get("plan") for c in api.contacts}
        assert variant_columns(db) == []
        assert query(db, "select count(*) from information_schema.tables "
                         "where table_name = '_rejected_records'") == [(0,)]
        # both searches paged through with the documented body and cursor
        pages = -(-len(api.contacts) // 150)
        assert len(api.searches("contacts")) == pages
        bodies = [r.body for r in api.searches("contacts")]
        assert bodies[0] == {"query": {"field": "updated_at", "operator": ">", "value": 0},
                             "pagination": {"per_page": 150}}
        assert all(b["pagination"].get("starting_after") for b in bodies[1:])


# -- 2. idempotent and incremental ---------------------------------------------------------
def test_rerun_adds_nothing_and_the_next_run_picks_up_exactly_the_changes(
    tmp_path: Path,
) -> None:
    contacts, conversations = hand_made()
    with IntercomAPI(contacts, conversations) as api:
        pipeline = make_pipeline(tmp_path)
        db = tmp_path / "raw.duckdb"
        pipeline.run(source(api))
        first = snapshot(db)
        before = rows_by_id(db, "contacts")
        assert len(first["contacts"]) == 12 and len(first["conversations"]) == 4
        assert incremental_state(pipeline, "contacts")["last_value"] == T

        pipeline.run(source(api))
        assert snapshot(db) == first

        # three updates and two new contacts
        seen = len(api.requests)
        same_day = contacts[4]["id"]  # 17 h × 4 before T: now updated at 18:00 on T's day
        api.update("contacts", same_day, updated_at=T + 4 * 3600, email="new@example.com")
        api.update("contacts", contacts[7]["id"], updated_at=T + DAY, role="user",
                   external_id="user-8-late")
        api.update("contacts", contacts[10]["id"], updated_at=T + 2 * DAY + 60,
                   custom_attributes={"Plan Type": "pro"})
        api.add("contacts", contact(13, T + 3600))
        api.add("contacts", contact(14, T + 3 * DAY))
        pipeline.run(source(api))

        # Intercom's `>` starts at the next midnight: the search must reach back before
        # the start of T's day, or the 18:00 update on that day is skipped
        values = {r.body["query"]["value"] for r in api.requests[seen:]
                  if r.path == "/contacts/search"}
        assert values and max(values) < D0
        assert contacts_in(db) == expected_contacts(api.contacts)
        assert contacts_in(db)[same_day][3] == "new@example.com"
        assert len(contacts_in(db)) == 14
        after = snapshot(db)
        assert after["conversations"] == first["conversations"]
        assert after["conversations__contacts__contacts"] == (
            first["conversations__contacts__contacts"])
        changed = {same_day, contacts[7]["id"], contacts[10]["id"]}
        now = rows_by_id(db, "contacts")
        assert {i: r for i, r in now.items() if i in before and i not in changed} == {
            i: r for i, r in before.items() if i not in changed}
        assert set(now) - set(before) == {contact(13, 0)["id"], contact(14, 0)["id"]}
        assert incremental_state(pipeline, "contacts")["last_value"] == T + 3 * DAY


# -- 3. headers and auth -------------------------------------------------------------------
def test_every_request_carries_the_pinned_version_and_bearer_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts, conversations = hand_made()
    with IntercomAPI(contacts, conversations, token="tok-3f9a") as api:
        monkeypatch.setenv("SOURCES__INTERCOM__BASE_URL", api.base_url)
        monkeypatch.setenv("SOURCES__INTERCOM__ACCESS_TOKEN", "tok-3f9a")
        monkeypatch.setenv("SOURCES__INTERCOM__PAGE_SIZE", "5")
        pipeline = make_pipeline(tmp_path)
        pipeline.run(intercom())
        assert len(api.requests) == 3 + 1  # 12 contacts in pages of 5, 4 conversations
        for request in api.requests:
            assert request.headers["authorization"] == "Bearer tok-3f9a"
            assert request.headers["intercom-version"] == "2.14"
            assert request.headers["accept"] == "application/json"
            assert "tok-3f9a" not in repr((request.path, request.query, request.body))
        assert api.unversioned == []

        monkeypatch.setenv("SOURCES__INTERCOM__API_VERSION", "2.16")
        seen = len(api.requests)
        pipeline.run(intercom())
        assert {r.headers["intercom-version"] for r in api.requests[seen:]} == {"2.16"}


# -- 4. retries ----------------------------------------------------------------------------
def test_rate_limits_server_errors_and_dropped_connections_are_retried(
    tmp_path: Path,
) -> None:
    contacts, conversations = hand_made()
    with IntercomAPI(contacts, conversations) as api:
        is_contacts = lambda r: r.path == "/contacts/search"  # noqa: E731
        api.throttle_next(1, reset_in=0.5, when=is_contacts)  # no Retry-After
        api.fail_next(2, status=500, body={"type": "error.list", "errors": []},
                      when=lambda r: r.path == "/conversations/search")
        api.drop_next(1, when=lambda r: is_contacts(r)
                      and bool(r.body["pagination"].get("starting_after")))
        make_pipeline(tmp_path).run(source(api))

        db = tmp_path / "raw.duckdb"
        assert contacts_in(db) == expected_contacts(contacts)
        assert links_in(db) == expected_links(conversations)
        assert api.count("POST", "/contacts/search") == 3 + 1 + 1  # pages, 429, dropped
        assert api.count("POST", "/conversations/search") == 1 + 2
        # backoff is 0.01 s here: the retry came no sooner than X-RateLimit-Reset said
        (_, _, limited), (retried_at, _, retried) = [
            (at, r, response) for at, r, response in api.served if is_contacts(r)][:2]
        assert limited.status == 429 and "Retry-After" not in limited.headers
        assert retried.status == 200
        assert retried_at >= int(limited.headers["X-RateLimit-Reset"])


def test_an_answer_cut_off_once_is_retried_and_every_row_loads_once(tmp_path: Path) -> None:
    contacts, conversations = hand_made()
    with IntercomAPI(contacts, conversations) as api:
        # status 200, JSON content type, a Content-Length that matches: only the JSON is
        # short (the second contacts page, mid-pagination; the first conversations page)
        api.truncate_next(1, when=lambda r: r.path == "/contacts/search"
                          and bool(r.body["pagination"].get("starting_after")))
        api.truncate_next(1, keep=0.2, when=lambda r: r.path == "/conversations/search")
        make_pipeline(tmp_path).run(source(api))
        assert api.count("POST", "/contacts/search") == 3 + 1  # 12 contacts in pages of 5
        assert api.count("POST", "/conversations/search") == 1 + 1
    db = tmp_path / "raw.duckdb"
    assert contacts_in(db) == expected_contacts(contacts)
    assert links_in(db) == expected_links(conversations)
    for table in ("contacts", "conversations"):
        assert query(db, f"select count(*) - count(distinct id) from raw_intercom.{table}"
                     ) == [(0,)]
    assert query(db, "select count(*) from raw_intercom.conversations__contacts__contacts"
                 ) == [(sum(len(c["contacts"]["contacts"]) for c in conversations),)]


def test_an_answer_cut_off_every_time_fails_naming_the_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
    contacts, conversations = hand_made()
    data = DataDir(tmp_path / "data").ensure()
    with IntercomAPI(contacts, conversations) as api:
        api.truncate_next(1000, when=lambda r: r.path == "/conversations/search")
        with pytest.raises(IngestError) as failure:
            run_source(data, "intercom", base_url=api.base_url, access_token=api.token,
                       page_size=5)
        assert api.count("POST", "/conversations/search") == 3  # the configured attempts
    message = str(failure.value)
    assert ("intercom: POST /conversations/search answered HTTP 200 with a cut-off JSON "
            "body") in message
    assert "run again" in message and "RUNTIME__REQUEST_MAX_ATTEMPTS" in message
    assert api.token not in message
    assert pipeline_for(data, SOURCES["intercom"]).state.get("sources", {}) == {}


# -- 5. permanent errors -------------------------------------------------------------------
def _messages(error: BaseException) -> str:
    parts = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def test_a_bad_token_fails_naming_intercom_and_the_endpoint_without_leaking_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "dG9rOmxlYWstbWUtbm90LTk5"
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SOURCES__INTERCOM__ACCESS_TOKEN", secret)
    contacts, conversations = hand_made()
    dlt_logger = logging.getLogger("dlt")  # dlt's logger does not propagate to the root
    level = dlt_logger.level
    dlt_logger.addHandler(caplog.handler)
    dlt_logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG), IntercomAPI(contacts, conversations) as api:
            monkeypatch.setenv("SOURCES__INTERCOM__BASE_URL", api.base_url)
            with pytest.raises(PipelineStepFailed) as failure:
                make_pipeline(tmp_path).run(intercom())
    finally:
        dlt_logger.removeHandler(caplog.handler)
        dlt_logger.setLevel(level)

    text = _messages(failure.value)
    assert "intercom: POST /contacts/search failed with HTTP 401" in text or (
        "intercom: POST /conversations/search failed with HTTP 401" in text)
    assert "Access Token Invalid" in text
    assert "Making POST request" in caplog.text  # the DEBUG log was really captured
    assert secret not in text
    assert secret not in "".join(traceback.format_exception(failure.value))
    assert secret not in caplog.text
    for path in tmp_path.rglob("*"):  # nor in the pipeline's working files or the database
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
    assert all(api.count("POST", f"/{k}/search") <= 1 for k in ("contacts", "conversations"))


def test_a_refused_cursor_fails_at_once_with_intercoms_reason(tmp_path: Path) -> None:
    contacts, conversations = hand_made()
    with IntercomAPI(contacts, conversations) as api:
        api.fail_next(
            1, status=400,
            body={"type": "error.list", "request_id": "r1", "errors": [
                {"code": "client_error", "message": "Invalid starting_after param"}]},
            when=lambda r: bool((r.body or {}).get("pagination", {}).get("starting_after")),
        )
        pipeline = make_pipeline(tmp_path)
        with pytest.raises(PipelineStepFailed) as failure:
            pipeline.run(source(api))
    text = _messages(failure.value)
    assert "intercom: POST /contacts/search failed with HTTP 400" in text
    assert "Invalid starting_after param" in text
    assert api.count("POST", "/contacts/search") == 2  # page 1, then the refused page 2
    assert not pipeline.has_pending_data


# -- 6. killed runs ------------------------------------------------------------------------
class Killed(RuntimeError):
    pass


def _kill_after(rows: int):
    seen = iter(range(rows))

    def step(item: Any) -> Any:
        if next(seen, None) is None:
            raise Killed(f"killed after {rows} rows")
        return item

    return step


def test_a_run_killed_during_extract_then_rerun_equals_one_clean_run(tmp_path: Path) -> None:
    contacts, conversations = hand_made()
    with IntercomAPI(contacts, conversations) as api:
        pipeline = make_pipeline(tmp_path)
        killed = source(api)
        killed.resources["contacts"].add_map(_kill_after(7))  # in the second page of 5
        with pytest.raises(PipelineStepFailed):
            pipeline.run(killed)
        assert not pipeline.has_pending_data
        assert api.count("POST", "/contacts/search") >= 2
        pipeline.run(source(api))

        make_pipeline(tmp_path, "clean.duckdb", "clean").run(source(api))
    assert snapshot(tmp_path / "raw.duckdb") == snapshot(tmp_path / "clean.duckdb")
    assert len(snapshot(tmp_path / "raw.duckdb")["contacts"]) == 12


def test_a_run_killed_before_its_load_then_rerun_equals_one_clean_run(tmp_path: Path) -> None:
    contacts, conversations = hand_made()
    with IntercomAPI(contacts, conversations) as api:
        dying = make_pipeline(tmp_path)
        dying.extract(source(api))
        dying.normalize()  # the process dies here: the package was never loaded
        api.update("contacts", contacts[0]["id"], updated_at=T + 600, name="Renamed")

        pipeline = make_pipeline(tmp_path)  # a new process, same working directory
        assert pipeline.has_pending_data
        pipeline.load()
        pipeline.run(source(api))

        make_pipeline(tmp_path, "clean.duckdb", "clean").run(source(api))
    raw = snapshot(tmp_path / "raw.duckdb")
    assert raw == snapshot(tmp_path / "clean.duckdb")
    assert ("Renamed",) in query(tmp_path / "raw.duckdb",
                                 "select name from raw_intercom.contacts")


# -- 7. bad records ------------------------------------------------------------------------
def test_bad_records_go_to_rejected_records_with_a_reason_and_the_rest_loads(
    tmp_path: Path,
) -> None:
    contacts, conversations = hand_made()
    no_id = {k: v for k, v in contact(20, T - 3600).items() if k != "id"}
    text_date = {**contact(21, T), "updated_at": "2026-03-10T12:00:00Z"}
    fraction = {**contact(22, T), "updated_at": T + 0.5}
    bad_conversation = conversation(9, [contacts[0]], T)
    bad_conversation["created_at"] = "yesterday"
    with IntercomAPI([*contacts, no_id, text_date, fraction],
                     [*conversations, bad_conversation]) as api:
        pipeline = make_pipeline(tmp_path)
        for _ in range(2):  # a re-read bad record is not counted twice
            pipeline.run(source(api))
    db = tmp_path / "raw.duckdb"
    rejected = query(db, "select location, reason, raw from raw_intercom._rejected_records")
    reasons = sorted((location.split(" ")[0], reason) for location, reason, _ in rejected)
    assert reasons == [
        ("contacts/search", "missing_id"),
        ("contacts/search", "updated_at_not_unix_seconds"),
        ("contacts/search", "updated_at_not_unix_seconds"),
        ("conversations/search", "created_at_not_unix_seconds"),
    ]
    assert any('"email":"person20@example.com"' in raw for _, _, raw in rejected)
    assert contacts_in(db) == expected_contacts(contacts)
    assert {r[0] for r in query(db, "select id from raw_intercom.conversations")} == {
        c["id"] for c in conversations}
    assert incremental_state(pipeline, "contacts")["last_value"] == T
    assert variant_columns(db) == []


def test_records_without_an_id_are_rejected_each_once_and_counted(tmp_path: Path) -> None:
    contacts, conversations = hand_made()
    # null, missing, "", blank and NBSP-only ids; two different contacts share the blank id
    without = [{**contact(40 + n, T - 60 * n), "id": value}
               for n, value in enumerate([None, "", "   ", "   ", "\u00a0"])]
    without.append({k: v for k, v in contact(45, T).items() if k != "id"})
    blank_conversation = {**conversation(9, [contacts[0]], T), "id": " "}
    # a good conversation listing two contacts without an id: it loads without them
    half_linked = conversation(10, [contacts[1]], T)
    half_linked["contacts"]["contacts"] += [
        {"type": "contact", "id": "", "external_id": "user-x"},
        {"type": "contact", "id": None, "external_id": None}]
    data = DataDir(tmp_path / "data").ensure()
    with IntercomAPI([*contacts, *without],
                     [*conversations, blank_conversation, half_linked]) as api:
        first = run_source(data, "intercom", base_url=api.base_url, access_token=api.token,
                           page_size=5)
        again = run_source(data, "intercom", base_url=api.base_url, access_token=api.token,
                           page_size=5)
    # six contacts, one conversation and two links of another, counted
    assert first.rows_rejected == 9
    rejected = query(data.raw_db, "select location, position, reason, raw "
                                  "from raw_intercom._rejected_records")
    # each is kept once (the re-read replaced its row), none merged with another
    assert len(rejected) == 9 and again.rows_rejected == 9
    records = [r for r in rejected if r[2] == "missing_id"]
    emails = sorted(email for *_, raw in records
                    for email in re.findall(r'"email":"([^"]+)"', raw))
    assert emails == sorted([*(f"person{40 + n}@example.com" for n in range(6)),
                             contacts[0]["email"]])
    assert sorted(location.split(" ")[0] for location, *_ in records) == (
        ["contacts/search"] * 6 + ["conversations/search"])
    link_location = f"conversations/search id={half_linked['id']} contacts"
    assert sorted((location, position, reason) for location, position, reason, _ in rejected
                  if reason != "missing_id") == [
        (link_location, 1, "contact_without_id"), (link_location, 2, "contact_without_id")]
    assert contacts_in(data.raw_db) == expected_contacts(contacts)
    assert {r[0] for r in query(data.raw_db, "select id from raw_intercom.conversations")} == {
        c["id"] for c in [*conversations, half_linked]}
    assert links_in(data.raw_db) == expected_links(conversations) | {
        (half_linked["id"], contacts[1]["id"], contacts[1]["external_id"])}


# -- 8. schema drift -----------------------------------------------------------------------
def test_new_custom_attributes_and_new_fields_load_without_manual_steps(tmp_path: Path) -> None:
    contacts, conversations = hand_made()
    with IntercomAPI(contacts, conversations) as api:
        pipeline = make_pipeline(tmp_path)
        pipeline.run(source(api))
        target = contacts[2]["id"]
        api.update("contacts", target, updated_at=T + 60,
                   custom_attributes={"Plan Type": "team", "Favourite Colour": "teal",
                                      "Seats Purchased": 4},
                   plan_tier="gold", sla={"name": "Gold", "hours": 4})
        api.update("conversations", conversations[0]["id"], updated_at=T + 60,
                   channel="email")
        pipeline.run(source(api))
    db = tmp_path / "raw.duckdb"
    row = query(db, f"""
        select plan_tier, sla__name, sla__hours,
               json_extract_string(custom_attributes, '$."Favourite Colour"'),
               json_extract(custom_attributes, '$."Seats Purchased"')::int
        from raw_intercom.contacts where id = '{target}'
    """)
    assert row == [("gold", "Gold", 4, "teal", 4)]
    assert query(db, "select count(*) from raw_intercom.contacts where plan_tier is null") == [
        (11,)]
    assert query(db, "select channel from raw_intercom.conversations "
                     f"where id = '{conversations[0]['id']}'") == [("email",)]
    columns = {r[0] for r in query(db, "select column_name from information_schema.columns "
                                       "where table_name = 'contacts'")}
    assert not {c for c in columns if "colour" in c or "seats" in c or "plan_type" in c}
    assert len(contacts_in(db)) == 12

