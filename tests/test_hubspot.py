"""The HubSpot pipeline against a fake HubSpot API (a real HTTP server) into a real DuckDB
file: full and incremental loads, the search result cap, retries, auth failures, kills,
archived and bad records, schema drift, deal stage history. Expected numbers come from the
fake's own records, the generated files and hand-worked arithmetic, never from the
pipeline's output."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import traceback
from pathlib import Path

import dlt
import duckdb
import pytest
import requests
from dlt.pipeline.exceptions import PipelineStepFailed

from journeys import generator
from journeys.ingest import SOURCES, IngestError, pipeline_for, run_source
from journeys.paths import DataDir
from journeys.stand_ins.hubspot import (
    MODIFIED,
    HubSpotAPI,
    epoch_ms,
    hubspot_time,
    load_generated,
    rate_limit_body,
)
from journeys.stand_ins.server import Request
from pipelines.hubspot import hubspot

TOKEN = "pat-na1-3f9c2d1e-aaaa-4bbb-8ccc-0123456789ab"
STAGE_HISTORY_PATH = "/crm/v3/objects/deals/batch/read"
HISTORY_LIMIT = 50  # HubSpot's batch-read inputs with propertiesWithHistory
LAG_MS = 300_000  # the source's default lag_seconds, 300
# list-API association label → (v4 typeId, label), SOURCES.md section 3
LABELS = {
    "contact_to_company": (1, "Primary"),
    "contact_to_company_unlabeled": (279, None),
    "deal_to_company": (5, "Primary"),
    "deal_to_company_unlabeled": (341, None),
    "deal_to_contact": (3, None),
}
ASSOCIATION_TABLES = {
    "contact_company_associations": ("contacts", "companies"),
    "deal_company_associations": ("deals", "companies"),
    "deal_contact_associations": ("deals", "contacts"),
}
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
FAST_SEARCH = 20  # search requests a second where the throttle is not what is tested
REAL = {"search_requests_per_second": 4.0}  # the source's default


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "0.2")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("hubspot-generated")
    return out, generator.generate(out, users=60, seed=5)


@pytest.fixture(scope="module")
def generated_records(generated: tuple[Path, dict]) -> dict[str, list[dict]]:
    return load_generated(generated[0] / "hubspot")


@pytest.fixture
def records(generated_records: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return copy.deepcopy(generated_records)


# -- helpers ------------------------------------------------------------------------------------
def make_pipeline(folder: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="hubspot_test",
        destination=dlt.destinations.duckdb(str(folder / "raw.duckdb")),
        dataset_name="raw_hubspot",
        pipelines_dir=str(folder / "pl"),
        dev_mode=False,
    )


def fake(records: dict[str, list[dict]], **options) -> HubSpotAPI:
    """The fake with HubSpot's search rate limit raised to FAST_SEARCH + 5 a second."""
    return HubSpotAPI(records, token=TOKEN, **{"search_rate": FAST_SEARCH + 5, **options})


def run(pipeline: dlt.Pipeline, api: HubSpotAPI, **options) -> dlt.Pipeline:
    """One run; the client throttle at FAST_SEARCH unless given (the real 4/s is tested in
    the full-load and cap tests, against the fake's real 5/s limit)."""
    options = {"search_requests_per_second": FAST_SEARCH, **options}
    pipeline.run(hubspot(access_token=TOKEN, base_url=api.base_url, **options))
    return pipeline


def query(folder: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(folder / "raw.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def tables(folder: Path) -> set[str]:
    return {r[0] for r in query(folder, "select table_name from information_schema.tables "
                                        "where table_schema = 'raw_hubspot'")}


def ids(folder: Path, table: str) -> list[str]:
    return sorted(r[0] for r in query(folder, f"select id from raw_hubspot.{table}"))


def association_rows(folder: Path, table: str) -> list[tuple]:
    return sorted(query(folder, "select from_id, to_id, association_type_id, association_label "
                                f"from raw_hubspot.{table}"), key=str)


def expected_associations(records: dict[str, list[dict]], table: str) -> list[tuple]:
    """One row per label, worked out from the list-API `associations` of the records."""
    from_type, to_type = ASSOCIATION_TABLES[table]
    rows = []
    for record in records[from_type]:
        if record.get("archived"):
            continue
        for item in record.get("associations", {}).get(to_type, {}).get("results", []):
            type_id, label = LABELS[item["type"]]
            rows.append((record["id"], item["id"], type_id, label))
    return sorted(rows, key=str)


def max_modified_ms(records: dict[str, list[dict]], object_type: str) -> int:
    return max(epoch_ms(r["properties"][MODIFIED[object_type]]) for r in records[object_type])


def gte_values(bodies: list[dict]) -> list[str]:
    return [f["value"] for b in bodies for g in b["filterGroups"] for f in g["filters"]
            if f["operator"] == "GTE"]


def contact(object_id: int, modified: dt.datetime, **properties) -> dict:
    base = {"createdate": hubspot_time(T0), "email": f"c{object_id}@example.com",
            "firstname": "Ann", "lastname": f"Lee{object_id}", "hs_object_id": str(object_id),
            "lastmodifieddate": hubspot_time(modified), "lifecyclestage": "lead"}
    return {"id": str(object_id), "properties": {**base, **properties},
            "createdAt": hubspot_time(T0), "updatedAt": hubspot_time(modified),
            "archived": False}


def deal(object_id: int, modified: dt.datetime, **properties) -> dict:
    base = {"amount": "1200.00", "closedate": hubspot_time(modified), "createdate":
            hubspot_time(T0), "dealname": f"deal {object_id}", "dealstage": "qualifiedtobuy",
            "hs_is_closed_won": "false", "hs_lastmodifieddate": hubspot_time(modified),
            "hs_object_id": str(object_id), "pipeline": "default"}
    return {"id": str(object_id), "properties": {**base, **properties},
            "createdAt": hubspot_time(T0), "updatedAt": hubspot_time(modified),
            "archived": False}


def is_stage_history_read(request: Request) -> bool:
    return request.method == "POST" and request.path == STAGE_HISTORY_PATH


def stage_rows(folder: Path) -> list[tuple]:
    return sorted(query(folder, "select deal_id, stage, changed_at, source_type, source_id, "
                                "source_label, updated_by_user_id "
                                "from raw_hubspot.deal_stage_history"), key=str)


def generated_stage_changes(folder: Path) -> list[tuple]:
    """Every `dealstage` history entry of the generated deal pages, read from the files."""
    rows = []
    for page in sorted((folder / "hubspot" / "deals").glob("page-*.json")):
        for record in json.loads(page.read_text())["results"]:
            for entry in record["propertiesWithHistory"]["dealstage"]:
                rows.append((record["id"], entry["value"],
                             dt.datetime.fromisoformat(entry["timestamp"]),
                             entry.get("sourceType"), entry.get("sourceId"),
                             entry.get("sourceLabel"), entry.get("updatedByUserId")))
    return sorted(rows, key=str)


def is_search(object_type: str, after: str | None = None):
    def match(request: Request) -> bool:
        if request.method != "POST" or request.path != f"/crm/v3/objects/{object_type}/search":
            return False
        return after is None or (request.body or {}).get("after") == after
    return match


# -- 1. full load -------------------------------------------------------------------------------
def test_full_load_gives_exactly_the_records_and_association_pairs(records, tmp_path) -> None:
    records["contacts"][0]["properties"]["hs_lead_status"] = ""  # a cleared property
    records["deals"][0]["properties"]["closedate"] = ""
    # one contact with two companies, so the v4 read pages (1 target a page below)
    two = contact(990001, T0, associatedcompanyid=records["companies"][0]["id"])
    two["associations"] = {"companies": {"results": [
        {"id": records["companies"][0]["id"], "type": "contact_to_company"},
        {"id": records["companies"][1]["id"], "type": "contact_to_company_unlabeled"}]}}
    records["contacts"].append(two)

    with HubSpotAPI(records, token=TOKEN, associations_page=1) as api:
        run(make_pipeline(tmp_path), api, **REAL)

    for object_type in ("contacts", "companies", "deals"):
        assert ids(tmp_path, object_type) == sorted(r["id"] for r in records[object_type])
    emails = query(tmp_path, "select id, properties__email, properties__lifecyclestage "
                             "from raw_hubspot.contacts")
    assert sorted(emails) == sorted((r["id"], r["properties"]["email"],
                                     r["properties"]["lifecyclestage"])
                                    for r in records["contacts"])
    for table in ASSOCIATION_TABLES:
        assert association_rows(tmp_path, table) == expected_associations(records, table)
    assert ("990001", records["companies"][1]["id"], 279, None) in association_rows(
        tmp_path, "contact_company_associations")
    # "" became NULL, and dates are timestamps (no variant text columns anywhere)
    first = records["contacts"][0]
    assert query(tmp_path, "select properties__hs_lead_status, properties__lastmodifieddate "
                           f"from raw_hubspot.contacts where id = '{first['id']}'") == [
        (None, dt.datetime.fromisoformat(first["properties"]["lastmodifieddate"]))]
    assert query(tmp_path, "select properties__closedate from raw_hubspot.deals "
                           f"where id = '{records['deals'][0]['id']}'") == [(None,)]
    assert query(tmp_path, "select count(*) from information_schema.columns where "
                           "table_schema = 'raw_hubspot' and column_name like '%\\_\\_v\\_%' "
                           "escape '\\'") == [(0,)]
    assert "_rejected_records" not in tables(tmp_path)
    # the search was throttled below HubSpot's limit: never two within a quarter second
    gaps = [b - a for a, b in zip(api.search_arrivals, api.search_arrivals[1:], strict=False)]
    assert min(gaps) >= 0.2
    assert api.rate_limited == 0


# -- 2. idempotent and incremental --------------------------------------------------------------
def test_reruns_add_nothing_and_fetch_only_changed_records(records, tmp_path) -> None:
    counts = {t: len(records[t]) for t in ("contacts", "companies", "deals")}
    old_max = {t: max_modified_ms(records, t) for t in counts}
    # what the lagged GTE bound catches again: records within 300 s of each type's maximum
    window = {t: {r["id"] for r in records[t]
                  if epoch_ms(r["properties"][MODIFIED[t]]) >= old_max[t] - LAG_MS}
              for t in counts}
    pipeline = make_pipeline(tmp_path)
    with fake(records) as api:
        run(pipeline, api)
        first_run = len(api.served)
        run(pipeline, api)
        for t in counts:
            assert ids(tmp_path, t) == sorted(r["id"] for r in records[t])
            assert gte_values(api.search_bodies(t)) == ["0", str(old_max[t] - LAG_MS)]
        assert {s.object_type: set(s.ids) for s in api.served[first_run:]} == window

        later = dt.datetime.fromtimestamp(max(old_max.values()) / 1000, dt.UTC)
        later += dt.timedelta(hours=1)
        changed = {
            "contacts": [api.modify("contacts", records["contacts"][3]["id"], later,
                                    lifecyclestage="customer")["id"]],
            "companies": [api.modify("companies", records["companies"][2]["id"], later,
                                     name="Renamed Inc")["id"]],
            "deals": [api.modify("deals", records["deals"][1]["id"], later,
                                 dealstage="closedwon", hs_is_closed_won="true")["id"]],
        }
        company_id = records["companies"][0]["id"]
        new_contact = contact(880001, later, associatedcompanyid=company_id)
        new_contact["associations"] = {"companies": {"results": [
            {"id": company_id, "type": "contact_to_company"}]}}
        new_deal = deal(880002, later)
        new_deal["associations"] = {"contacts": {"results": [
            {"id": "880001", "type": "deal_to_contact"}]}}
        api.add("contacts", new_contact)
        api.add("deals", new_deal)
        changed["contacts"].append("880001")
        changed["deals"].append("880002")

        before = len(api.served)
        run(pipeline, api)
        for t in counts:
            # the third run's query starts at the second run's cursor minus the lag
            assert gte_values(api.search_bodies(t))[-1] == str(old_max[t] - LAG_MS)
        fetched = {}
        for served in api.served[before:]:
            fetched.setdefault(served.object_type, set()).update(served.ids)
        assert fetched == {t: window[t] | set(changed[t]) for t in counts}

    assert len(ids(tmp_path, "contacts")) == counts["contacts"] + 1
    assert len(ids(tmp_path, "companies")) == counts["companies"]
    assert len(ids(tmp_path, "deals")) == counts["deals"] + 1
    assert query(tmp_path, "select properties__lifecyclestage from raw_hubspot.contacts "
                           f"where id = '{changed['contacts'][0]}'") == [("customer",)]
    assert query(tmp_path, "select properties__name from raw_hubspot.companies "
                           f"where id = '{changed['companies'][0]}'") == [("Renamed Inc",)]
    assert query(tmp_path, "select properties__dealstage, properties__hs_is_closed_won from "
                           f"raw_hubspot.deals where id = '{changed['deals'][0]}'") == [
        ("closedwon", "true")]
    assert ("880001", company_id, 1, "Primary") in association_rows(
        tmp_path, "contact_company_associations")
    assert ("880002", "880001", 3, None) in association_rows(tmp_path, "deal_contact_associations")
    cursor = pipeline.state["sources"]["hubspot"]["resources"]["contacts_search"]["incremental"]
    assert cursor["properties.lastmodifieddate"]["last_value"] == later


# -- 3. the 10,000-results cap ------------------------------------------------------------------
def test_result_cap_is_crossed_by_restarting_at_the_last_modified_time(tmp_path) -> None:
    # 130 contacts, three to a second: every restart boundary is a tie
    times = [T0 + dt.timedelta(seconds=i // 3) for i in range(130)]
    data = {"contacts": [contact(1000 + i, t) for i, t in enumerate(times)]}
    with HubSpotAPI(data, token=TOKEN, search_cap=50) as api:
        run(make_pipeline(tmp_path), api, search_page_size=20, search_result_cap=50, **REAL)
        bodies = api.search_bodies("contacts")
        assert api.rate_limited == 0
    assert ids(tmp_path, "contacts") == sorted(str(1000 + i) for i in range(130))
    # by hand: query 1 (GTE 0) reads positions 0-49 in pages of 20, 20, 10; position 49 is
    # at second 16 → query 2 (GTE second 16, positions 48-129) reads 48-97; position 97 is at
    # second 32 → query 3 (positions 96-129) reads 34 in pages of 20 and 14
    ms = [epoch_ms(hubspot_time(t)) for t in times]
    assert gte_values(bodies) == ["0"] * 3 + [str(ms[49])] * 3 + [str(ms[97])] * 2
    assert [b.get("after") for b in bodies] == [None, "20", "40"] * 2 + [None, "20"]
    assert all(b["limit"] == 20 for b in bodies)


def test_more_than_a_cap_of_equal_times_is_paged_by_id(tmp_path) -> None:
    data = {"contacts": [contact(2000 + i, T0) for i in range(60)]
            + [contact(3000 + i, T0 + dt.timedelta(minutes=1)) for i in range(10)]}
    with fake(data, search_cap=50) as api:
        run(make_pipeline(tmp_path), api, search_page_size=20, search_result_cap=50)
        bodies = api.search_bodies("contacts")
    assert ids(tmp_path, "contacts") == sorted(r["id"] for r in data["contacts"])
    assert query(tmp_path, "select count(*) from raw_hubspot.contacts") == [(70,)]
    t0 = str(epoch_ms(hubspot_time(T0)))
    filters = [[(f["propertyName"], f["operator"], f["value"]) for f in b["filterGroups"][0][
        "filters"]] + [b.get("after")] for b in bodies]
    tie = ("lastmodifieddate", "EQ", t0)
    assert filters == [
        [("lastmodifieddate", "GTE", "0"), None],
        [("lastmodifieddate", "GTE", "0"), "20"],
        [("lastmodifieddate", "GTE", "0"), "40"],  # 50 records, all at T0: the bound is stuck
        [tie, None], [tie, "20"], [tie, "40"],  # T0 by id: ids 2000-2049
        [tie, ("hs_object_id", "GT", "2049"), None],  # ids 2050-2059
        [("lastmodifieddate", "GT", t0), None],  # the rest
    ]


# -- 4. retries ---------------------------------------------------------------------------------
def test_rate_limits_server_errors_and_dropped_connections_are_retried(records, tmp_path
                                                                        ) -> None:
    with fake(records) as api:
        api.fail_next(1, status=429, body=rate_limit_body(), when=is_search("contacts"))
        api.fail_next(1, status=429, body=rate_limit_body(), headers={"Retry-After": "1"},
                      when=is_search("companies"))
        api.fail_next(2, status=500, body={"status": "error", "message": "internal error"},
                      when=is_search("deals"))
        api.drop_next(1, when=is_search("contacts", after="20"))  # mid-pagination
        api.fail_next(1, status=502, body="Bad Gateway",
                      when=lambda r: r.path.endswith("/batch/read"))
        run(make_pipeline(tmp_path), api, search_page_size=10)
        # pages of 10 → ceil(n / 10) good answers, plus the failed attempts
        pages = {t: -(-len(records[t]) // 10) for t in ("contacts", "companies", "deals")}
        assert api.count("POST", "/crm/v3/objects/contacts/search") == pages["contacts"] + 2
        assert api.count("POST", "/crm/v3/objects/companies/search") == pages["companies"] + 1
        assert api.count("POST", "/crm/v3/objects/deals/search") == pages["deals"] + 2
    for object_type in ("contacts", "companies", "deals"):
        assert ids(tmp_path, object_type) == sorted(r["id"] for r in records[object_type])
    for table in ASSOCIATION_TABLES:
        assert association_rows(tmp_path, table) == expected_associations(records, table)


def is_path(method: str, path: str):
    return lambda request: request.method == method and request.path == path


def test_an_answer_cut_off_once_is_retried_and_every_row_loads_once(generated, records,
                                                                    tmp_path) -> None:
    folder, _ = generated
    archived = records["contacts"][7]
    archived["archived"] = True  # so the archived list has a row to lose
    archived["archivedAt"] = hubspot_time(T0)
    live = {t: [r for r in records[t] if not r.get("archived")]
            for t in ("contacts", "companies", "deals")}
    with fake(records) as api:
        # status 200, JSON content type, a Content-Length that matches: only the JSON is
        # short, once on every kind of request the source makes
        api.truncate_next(1, when=is_search("contacts", after="10"))  # mid-pagination
        api.truncate_next(1, keep=0.0, when=is_search("deals"))  # an empty body
        api.truncate_next(1, when=is_path("GET", "/crm/v3/objects/contacts"))  # archived list
        api.truncate_next(1, when=is_path(
            "POST", "/crm/v4/associations/deals/contacts/batch/read"))
        api.truncate_next(1, when=is_stage_history_read)
        run(make_pipeline(tmp_path), api, search_page_size=10)
        pages = {t: -(-len(live[t]) // 10) for t in live}
        assert api.count("POST", "/crm/v3/objects/contacts/search") == pages["contacts"] + 1
        assert api.count("POST", "/crm/v3/objects/deals/search") == pages["deals"] + 1
        assert api.count("GET", "/crm/v3/objects/contacts") == 1 + 1
        # associations and stage history are read for each page of deals (one request a
        # page: 10 ids are within both batch limits)
        assert api.count("POST", "/crm/v4/associations/deals/contacts/batch/read") == (
            pages["deals"] + 1)
        assert api.count("POST", STAGE_HISTORY_PATH) == pages["deals"] + 1
    for object_type in ("contacts", "companies", "deals"):
        assert ids(tmp_path, object_type) == sorted(r["id"] for r in records[object_type])
        assert query(tmp_path, f"select count(*) - count(distinct id) "
                               f"from raw_hubspot.{object_type}") == [(0,)]
    assert query(tmp_path, "select id from raw_hubspot.contacts where archived") == [
        (archived["id"],)]
    for table in ASSOCIATION_TABLES:
        assert association_rows(tmp_path, table) == expected_associations(records, table)
    assert stage_rows(tmp_path) == generated_stage_changes(folder)
    assert "_rejected_records" not in tables(tmp_path)


def test_an_answer_cut_off_every_time_fails_naming_the_endpoint(records, tmp_path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
    data = DataDir(tmp_path / "data").ensure()
    with fake(records) as api:
        api.truncate_next(1000, when=is_search("companies"))
        with pytest.raises(IngestError) as failure:
            run_source(data, "hubspot", base_url=api.base_url, access_token=TOKEN,
                       search_requests_per_second=FAST_SEARCH)
        assert api.count("POST", "/crm/v3/objects/companies/search") == 3  # the attempts
    message = str(failure.value)
    assert ("hubspot: POST /crm/v3/objects/companies/search answered HTTP 200 with a "
            "cut-off JSON body") in message
    assert "run again" in message and "RUNTIME__REQUEST_MAX_ATTEMPTS" in message
    assert TOKEN not in message and TOKEN[8:20] not in message
    state = pipeline_for(data, SOURCES["hubspot"]).state
    assert state.get("sources", {}) == {}  # no cursor moved


# -- 5. permanent errors ------------------------------------------------------------------------
def test_bad_token_fails_naming_hubspot_and_endpoint_without_leaking_it(
    records, tmp_path, monkeypatch, caplog, capfd
) -> None:
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    wrong = "pat-na1-0badc0de-dead-beef-0000-feedfacecafe"
    pipeline = make_pipeline(tmp_path)
    dlt_logger = logging.getLogger("dlt")
    dlt_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG), fake(records) as api:
            with pytest.raises(PipelineStepFailed) as failure:
                pipeline.run(hubspot(access_token=wrong, base_url=api.base_url))
            sent = [r.headers.get("authorization") for r in api.requests]
    finally:
        dlt_logger.removeHandler(caplog.handler)
    assert sent and all(h == f"Bearer {wrong}" for h in sent)  # it did go out, as a header
    message = str(failure.value)
    assert "hubspot:" in message
    assert "/crm/v3/objects/" in message
    assert "401 INVALID_AUTHENTICATION" in message
    assert "SOURCES__HUBSPOT__ACCESS_TOKEN" in message
    full = "".join(traceback.format_exception(failure.value))
    captured = capfd.readouterr()
    assert caplog.records  # DEBUG logging was on
    for text in (message, full, caplog.text, captured.out, captured.err):
        assert wrong not in text
        assert wrong[8:20] not in text
    assert pipeline.state.get("sources", {}) == {}  # no cursor moved


def test_missing_scope_fails_at_once_with_the_scope_to_grant(records, tmp_path) -> None:
    with fake(records) as api:
        api.missing_scopes = {"deals"}
        with pytest.raises(PipelineStepFailed) as failure:
            run(make_pipeline(tmp_path), api)
        assert api.count("POST", "/crm/v3/objects/deals/search") <= 1  # 403 is not retried
    message = str(failure.value)
    assert "hubspot:" in message and "403 MISSING_SCOPES" in message
    assert "/crm/v3/objects/deals" in message
    assert "Grant the private app the crm.objects.deals.read scope" in message


# -- 6. killed runs -----------------------------------------------------------------------------
def test_killed_runs_then_a_rerun_equal_one_clean_run(records, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    pipeline = make_pipeline(killed)
    with fake(records) as api:
        # 1. HubSpot keeps failing on the third contacts page: every attempt fails
        api.fail_next(3, status=503, body="unavailable", when=is_search("contacts", "20"))
        with pytest.raises(PipelineStepFailed):
            run(pipeline, api, search_page_size=10)
        assert not pipeline.has_pending_data
        assert pipeline.state.get("sources", {}) == {}
        # 2. the process dies in the middle of the deals (the 7th deal row raises)
        seen = []

        def die_on_seventh(row: dict) -> dict:
            seen.append(row)
            if len(seen) == 7:
                raise KeyboardInterrupt("killed")
            return row

        source = hubspot(access_token=TOKEN, base_url=api.base_url, search_page_size=10,
                         search_requests_per_second=FAST_SEARCH)
        source.resources["deals"].add_map(die_on_seventh)
        with pytest.raises(PipelineStepFailed):
            pipeline.run(source)
        assert not pipeline.has_pending_data
        # 3. killed after extract and normalize, before load: the package waits on disk
        pipeline.extract(hubspot(access_token=TOKEN, base_url=api.base_url, search_page_size=10,
                                 search_requests_per_second=FAST_SEARCH))
        pipeline.normalize()
        assert pipeline.has_pending_data
        pipeline.load()  # what `journeys ingest` does first when a package is pending
        run(pipeline, api, search_page_size=10)
        run(make_pipeline(clean), api)

    for table in ("contacts", "companies", "deals", *ASSOCIATION_TABLES, "deal_stage_history"):
        columns = [r[0] for r in query(clean, "select column_name from information_schema"
                                              f".columns where table_schema = 'raw_hubspot' "
                                              f"and table_name = '{table}' and column_name "
                                              "not like '\\_dlt%' escape '\\' order by 1")]
        select = f"select {', '.join(columns)} from raw_hubspot.{table} order by all"
        assert query(killed, select) == query(clean, select), table
    for object_type in ("contacts", "companies", "deals"):
        assert ids(killed, object_type) == sorted(r["id"] for r in records[object_type])


# -- 7. archived --------------------------------------------------------------------------------
def test_archived_record_is_marked_archived(records, tmp_path) -> None:
    pipeline = make_pipeline(tmp_path)
    gone = records["contacts"][5]["id"]
    archived_at = dt.datetime(2026, 11, 20, 8, 30, tzinfo=dt.UTC)
    with fake(records) as api:
        run(pipeline, api)
        api.archive("contacts", gone, archived_at)
        run(pipeline, api)
        listed = [r for r in api.requests if r.path == "/crm/v3/objects/contacts"]
    assert all(r.param("archived") == "true" for r in listed) and len(listed) == 2
    assert query(tmp_path, "select id, archived, archived_at from raw_hubspot.contacts "
                           "where archived") == [(gone, True, archived_at)]
    assert query(tmp_path, "select count(*) from raw_hubspot.contacts where not archived") == [
        (len(records["contacts"]) - 1,)]


# -- 8. bad records -----------------------------------------------------------------------------
def test_bad_records_are_set_aside_with_a_reason_and_the_rest_loads(tmp_path) -> None:
    good = [contact(4000 + i, T0 + dt.timedelta(hours=i)) for i in range(5)]
    no_id = contact(0, T0 + dt.timedelta(hours=1))
    del no_id["id"]
    bad_date = contact(4100, T0 + dt.timedelta(hours=2), createdate="not a date")
    deals = [deal(5000, T0), deal(5001, T0, closedate="31/12/2026")]
    data = {"contacts": [*good, no_id, bad_date], "deals": deals}
    pipeline = make_pipeline(tmp_path)
    with fake(data) as api:
        run(pipeline, api)
        run(pipeline, api)  # the lag re-reads them: still one row each
    assert ids(tmp_path, "contacts") == [str(4000 + i) for i in range(5)]
    assert ids(tmp_path, "deals") == ["5000"]
    rejected = query(tmp_path, "select source, location, position, reason, raw "
                               "from raw_hubspot._rejected_records order by reason")
    assert [(r[0], r[1], r[3]) for r in rejected] == [
        ("hubspot", "crm/v3/objects/contacts/search", "missing_id"),
        ("hubspot", "crm/v3/objects/deals/search", "unparseable_closedate"),
        ("hubspot", "crm/v3/objects/contacts/search", "unparseable_createdate"),
    ]
    assert [r[2] for r in rejected][1:] == [5001, 4100]
    assert "31/12/2026" in rejected[1][4] and "not a date" in rejected[2][4]


def test_records_without_an_id_are_rejected_each_once_and_counted(tmp_path) -> None:
    good = [contact(4000 + i, T0 + dt.timedelta(hours=i)) for i in range(3)]
    # null, "", blank and NBSP-only ids, two different contacts with the same blank id,
    # and one without the key; the search serves them all
    without = [{**contact(4100 + n, T0 + dt.timedelta(minutes=n)), "id": value}
               for n, value in enumerate([None, "", "   ", "   ", "\u00a0"])]
    without.append({k: v for k, v in contact(4105, T0).items() if k != "id"})
    archived = {**contact(4106, T0), "id": " ", "archived": True}  # the archived list too
    data = {"contacts": [*good, *without, archived]}
    folder = DataDir(tmp_path / "data").ensure()
    with fake(data) as api:
        first = run_source(folder, "hubspot", base_url=api.base_url, access_token=TOKEN,
                           search_requests_per_second=FAST_SEARCH)
        again = run_source(folder, "hubspot", base_url=api.base_url, access_token=TOKEN,
                           search_requests_per_second=FAST_SEARCH)
    assert first.rows_rejected == 7
    # the second run re-reads the archived list (and the lag window, without these): the
    # re-read reject replaces its own row
    assert again.rows_rejected == 1
    with duckdb.connect(str(folder.raw_db), read_only=True) as con:
        loaded = sorted(r[0] for r in con.execute("select id from raw_hubspot.contacts")
                        .fetchall())
        rejected = con.execute("select location, reason, raw "
                               "from raw_hubspot._rejected_records").fetchall()
    assert loaded == ["4000", "4001", "4002"]
    assert {reason for _, reason, _ in rejected} == {"missing_id"}
    assert sorted(json.loads(raw)["properties"]["email"] for _, _, raw in rejected) == sorted(
        f"c{n}@example.com" for n in range(4100, 4107))
    assert sorted(location for location, _, _ in rejected) == (
        ["crm/v3/objects/contacts/search"] * 6 + ["crm/v3/objects/contacts?archived=true"])


def test_associations_without_an_id_are_set_aside_and_the_rest_loads(tmp_path) -> None:
    people = [contact(4300 + i, T0 + dt.timedelta(hours=i)) for i in range(2)]
    v4 = "/crm/v4/associations/contacts/companies/batch/read"
    kinds = [{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}]
    # HubSpot's v4 shape, with one target lacking toObjectId and one result lacking its id
    answer = {"status": "COMPLETE", "startedAt": hubspot_time(T0),
              "completedAt": hubspot_time(T0), "results": [
                  {"from": {"id": "4300"}, "to": [
                      {"toObjectId": 900, "associationTypes": kinds},
                      {"toObjectId": None, "associationTypes": kinds}]},
                  {"from": {"id": " "}, "to": [{"toObjectId": 901, "associationTypes": kinds}]},
              ]}
    pipeline = make_pipeline(tmp_path)
    with fake({"contacts": people}) as api:
        api.fail_next(1, status=200, body=answer, when=is_path("POST", v4))
        run(pipeline, api)
    assert association_rows(tmp_path, "contact_company_associations") == [
        ("4300", "900", 1, "Primary")]
    rejected = query(tmp_path, "select location, reason, raw from raw_hubspot._rejected_records "
                               "order by reason")
    assert [r[:2] for r in rejected] == [
        (v4.lstrip("/"), "missing_from_id"), (v4.lstrip("/"), "missing_to_id")]
    assert '"toObjectId":901' in rejected[0][2] and '"4300"' in rejected[1][2]
    assert ids(tmp_path, "contacts") == ["4300", "4301"]


# -- 9. schema drift ----------------------------------------------------------------------------
def test_new_property_and_new_field_load_without_manual_steps(records, tmp_path) -> None:
    pipeline = make_pipeline(tmp_path)
    later = dt.datetime.fromtimestamp(max_modified_ms(records, "contacts") / 1000, dt.UTC)
    later += dt.timedelta(days=1)
    with fake(records) as api:
        run(pipeline, api)
        targets = [records["contacts"][i]["id"] for i in (1, 2)]
        for object_id in targets:
            api.modify("contacts", object_id, later, plan_tier="pro")
            api.get("contacts", object_id)["url"] = f"https://app.hubspot.com/contact/{object_id}"
        run(pipeline, api, extra_properties={"contacts": ["plan_tier"]})
    assert query(tmp_path, "select id, properties__plan_tier, url from raw_hubspot.contacts "
                           "where properties__plan_tier is not null order by id") == [
        (i, "pro", f"https://app.hubspot.com/contact/{i}") for i in sorted(targets)]
    assert len(ids(tmp_path, "contacts")) == len(records["contacts"])


# -- 10. deal stage history ---------------------------------------------------------------------
def test_stage_history_loads_every_generated_change_and_reruns_add_nothing(
    generated, records, tmp_path
) -> None:
    folder, truth = generated
    expected = generated_stage_changes(folder)
    # worked out from the files; the generator's own count must agree
    assert len(expected) == truth["rows"]["hubspot_deal_stage_changes"] > len(records["deals"])
    old_max = max_modified_ms(records, "deals")
    window = {r["id"] for r in records["deals"]
              if epoch_ms(r["properties"]["hs_lastmodifieddate"]) >= old_max - LAG_MS}
    pipeline = make_pipeline(tmp_path)
    with fake(records) as api:
        run(pipeline, api)
        assert stage_rows(tmp_path) == expected
        first = len(api.batch_read_bodies("deals"))
        run(pipeline, api)
        assert stage_rows(tmp_path) == expected  # the lag re-read merged, nothing added
        reread = {i["id"] for b in api.batch_read_bodies("deals")[first:] for i in b["inputs"]}
        assert reread == window  # only the deals this run's search returned
        # a deal moves on: the next run adds exactly that change
        later = dt.datetime.fromtimestamp(old_max / 1000, dt.UTC) + dt.timedelta(hours=1)
        moved = next(r["id"] for r in records["deals"]
                     if r["properties"]["dealstage"] != "closedlost")
        api.modify("deals", moved, later, dealstage="closedlost", hs_is_closed_won="false")
        run(pipeline, api)
    assert stage_rows(tmp_path) == sorted(
        [*expected, (moved, "closedlost", later, "API", None, None, None)], key=str)
    assert "_rejected_records" not in tables(tmp_path)


def test_stage_history_is_read_at_most_50_deals_a_request(tmp_path) -> None:
    deals = [deal(6000 + i, T0 + dt.timedelta(minutes=i)) for i in range(120)]
    with fake({"deals": deals}) as api:
        run(make_pipeline(tmp_path), api)
        bodies = api.batch_read_bodies("deals")
        # the fake holds HubSpot's limit: 51 inputs with history is a 400 VALIDATION_ERROR
        refused = requests.post(f"{api.base_url}{STAGE_HISTORY_PATH}",
                                headers={"Authorization": f"Bearer {TOKEN}"},
                                json={"inputs": [{"id": d["id"]} for d in deals[:51]],
                                      "propertiesWithHistory": ["dealstage"]}, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["category"] == "VALIDATION_ERROR"
    # one search page of 120 deals → batches of 50, 50 and 20
    assert [len(b["inputs"]) for b in bodies] == [50, 50, 20]
    assert all(b["properties"] == b["propertiesWithHistory"] == ["dealstage"] for b in bodies)
    assert sorted(i["id"] for b in bodies for i in b["inputs"]) == sorted(d["id"] for d in deals)
    # the fake gives a deal without stored history one entry: its stage at creation
    assert stage_rows(tmp_path) == sorted(
        [(d["id"], "qualifiedtobuy", T0, "CRM_UI", None, None, None) for d in deals], key=str)


def test_stage_history_reads_are_retried_after_429_and_5xx(generated, records, tmp_path
                                                           ) -> None:
    folder, _ = generated
    batches = -(-len(records["deals"]) // HISTORY_LIMIT)
    with fake(records) as api:
        api.fail_next(1, status=429, body=rate_limit_body(), when=is_stage_history_read)
        api.fail_next(2, status=503, body="unavailable", when=is_stage_history_read)
        run(make_pipeline(tmp_path), api)
        assert api.count("POST", STAGE_HISTORY_PATH) == batches + 3
    assert stage_rows(tmp_path) == generated_stage_changes(folder)


def test_stage_history_failing_for_good_stops_the_run_naming_the_endpoint(records, tmp_path,
                                                                          monkeypatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    pipeline = make_pipeline(tmp_path)
    with fake(records) as api:
        api.fail_next(2, status=500, body={"status": "error", "message": "internal error"},
                      when=is_stage_history_read)
        with pytest.raises(PipelineStepFailed) as failure:
            run(pipeline, api)
    message = str(failure.value)
    assert f"hubspot: POST {STAGE_HISTORY_PATH} failed: 500" in message
    assert TOKEN not in message
    assert pipeline.state.get("sources", {}) == {}  # the deals cursor did not move


def test_bad_stage_history_entries_are_set_aside_with_a_reason(tmp_path) -> None:
    good = {"value": "qualifiedtobuy", "timestamp": hubspot_time(T0), "sourceType": "CRM_UI",
            "sourceId": "userId:7", "sourceLabel": "Ada", "updatedByUserId": 7}
    history = [
        good,
        {"value": "contractsent", "sourceType": "API"},  # no timestamp
        {"value": "closedwon", "timestamp": "yesterday", "sourceType": "API"},
        {"value": "", "timestamp": hubspot_time(T0 + dt.timedelta(hours=1)),
         "sourceType": "API"},
    ]
    record = deal(7000, T0)
    record["propertiesWithHistory"] = {"dealstage": history}
    pipeline = make_pipeline(tmp_path)
    with fake({"deals": [record]}) as api:
        run(pipeline, api)
        run(pipeline, api)  # the lag re-reads the deal: still one row and three rejects
    assert stage_rows(tmp_path) == [("7000", "qualifiedtobuy", T0, "CRM_UI", "userId:7", "Ada", 7)]
    rejected = query(tmp_path, "select source, location, reason, raw "
                               "from raw_hubspot._rejected_records order by reason")
    assert [r[:3] for r in rejected] == [
        ("hubspot", "crm/v3/objects/deals/batch/read", "missing_timestamp"),
        ("hubspot", "crm/v3/objects/deals/batch/read", "missing_value"),
        ("hubspot", "crm/v3/objects/deals/batch/read", "unparseable_timestamp"),
    ]
    assert all('"7000"' in r[3] for r in rejected)
    assert "yesterday" in rejected[2][3]
