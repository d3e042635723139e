"""Staging for HubSpot, Intercom and PostHog's query API on a real build: generated data
served by the local vendor stand-ins, loaded by the real pipelines, built by dbt. Expected
rows come from the generator's own files (the list-API JSON pages, truth.json) or from the
stand-in's tables, never from the pipelines' or dbt's output. A warehouse without these
sources still builds, with these staging models empty."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from journeys import generator
from journeys.dbt import run_dbt, target_dir
from journeys.ingest import run_source
from journeys.paths import DataDir
from journeys.stand_ins.hubspot import HubSpotAPI, load_generated
from journeys.stand_ins.intercom import IntercomAPI
from journeys.stand_ins.posthog import PostHogQueryAPI

NEW_MODELS = (
    "stg_hubspot__contacts", "stg_hubspot__companies", "stg_hubspot__deals",
    "stg_hubspot__associations", "stg_hubspot__deal_stage_history", "stg_intercom__contacts",
    "stg_intercom__conversations", "stg_intercom__conversation_contacts", "stg_posthog__persons",
    "stg_posthog__person_distinct_ids",
)
# list-API association labels that mark HubSpot's primary association (SOURCES.md 3)
PRIMARY_LABELS = {"contact_to_company", "deal_to_company"}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}
EXPORT_LAG = 25  # events deleted from the export table: only the API has them
USERS = 300  # several list pages of every object (HubSpot 100 a page, Intercom 150)


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def pages(folder: Path, key: str) -> list[dict]:
    """Every record of a generated list-API folder (`page-*.json`)."""
    return [record for page in sorted(folder.glob("page-*.json"))
            for record in json.loads(page.read_text())[key]]


def instant(iso: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso) if iso else None


def unix(seconds: int | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def statuses_of_tests(data: DataDir, models: tuple[str, ...]) -> dict[str, str]:
    """Status of every dbt test (data and unit) attached to these models in the last run."""
    manifest = json.loads((target_dir(data) / "manifest.json").read_text())
    wanted = {f"model.journeys.{model}" for model in models}
    attached = {uid for uid, node in manifest["nodes"].items()
                if node["resource_type"] == "test" and node.get("attached_node") in wanted}
    attached |= {uid for uid, test in manifest["unit_tests"].items()
                 if test["depends_on"]["nodes"][0] in wanted}
    results = json.loads((target_dir(data) / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r["status"] for r in results if r["unique_id"] in attached}


@pytest.fixture(scope="module")
def generated_small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("crm-generated")
    return folder, generator.generate(folder, users=USERS, seed=7)


@pytest.fixture(scope="module")
def crm(generated_small: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[DataDir, Path, dict, dict]:
    """Every source loaded through the stand-ins, then the export table made to lag the
    API by a few events, then built."""
    folder, truth = generated_small
    data = DataDir(tmp_path_factory.mktemp("crm")).ensure()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")
        with (IntercomAPI.from_generated(folder) as intercom,
              HubSpotAPI(load_generated(folder / "hubspot"), search_rate=None) as hubspot,
              PostHogQueryAPI.from_export(folder / "posthog" / "events") as posthog):
            run_source(data, "hubspot", base_url=hubspot.base_url,
                       access_token=hubspot.token, search_requests_per_second=50.0)
            run_source(data, "intercom", base_url=intercom.base_url,
                       access_token=intercom.token)
            run_source(data, "posthog-api", base_url=posthog.base_url,
                       project_id=posthog.project_id, personal_api_key=posthog.api_key)
            served = {
                "persons": dict(posthog.query(
                    "select id::varchar, is_identified from persons")),
                "distinct_ids": dict(posthog.query(
                    "select distinct_id, person_id::varchar from person_distinct_ids")),
            }
        run_source(data, "posthog-files", str(folder / "posthog" / "events"))
    # the latest events have reached the API but not yet an export file
    with duckdb.connect(str(data.raw_db)) as con:
        lagging = [r[0] for r in con.execute(
            "select uuid from raw_posthog.events order by timestamp desc, uuid limit ?",
            [EXPORT_LAG]).fetchall()]
        con.execute("delete from raw_posthog.events where uuid in (select unnest(?))",
                    [lagging])
    served["lagging"] = set(lagging)
    result = run_dbt(data, "build", quiet=True)
    assert result.ok, f"dbt build failed: {result.statuses}"
    return data, folder, truth, served


def test_every_staging_test_passes_on_the_loaded_sources(crm) -> None:
    data, *_ = crm
    statuses = statuses_of_tests(data, (*NEW_MODELS, "stg_posthog__events"))
    assert len(statuses) > 40
    assert set(statuses.values()) == {"pass"}, {
        k: s for k, s in statuses.items() if s != "pass"}


def test_hubspot_objects_one_row_per_record_with_cast_properties(crm) -> None:
    data, folder, truth, _ = crm
    db = data.warehouse_db
    contacts = pages(folder / "hubspot" / "contacts", "results")
    companies = pages(folder / "hubspot" / "companies", "results")
    deals = pages(folder / "hubspot" / "deals", "results")
    rows = truth["rows"]
    assert (len(contacts), len(companies), len(deals)) == (
        rows["hubspot_contacts"], rows["hubspot_companies"], rows["hubspot_deals"])

    def text(value: str | None) -> str | None:
        return value or None  # HubSpot's cleared value "" is no value

    assert sorted(query(db, "select hubspot_contact_id, email, lifecycle_stage, "
                            "associated_company_id, is_archived "
                            "from staging.stg_hubspot__contacts")) == sorted(
        (c["id"], text(c["properties"].get("email")),
         text(c["properties"].get("lifecyclestage")),
         text(c["properties"].get("associatedcompanyid")), c["archived"])
        for c in contacts)
    assert sorted(query(db, "select hubspot_company_id, company_name, employees "
                            "from staging.stg_hubspot__companies")) == sorted(
        (c["id"], c["properties"]["name"], int(c["properties"]["numberofemployees"]))
        for c in companies)
    staged = {r[0]: r[1:] for r in query(
        db, "select hubspot_deal_id, deal_stage, amount, is_closed_won, close_at "
            "from staging.stg_hubspot__deals")}
    closed_won = {"true": True, "false": False}
    assert staged == {
        d["id"]: (d["properties"]["dealstage"], Decimal(d["properties"]["amount"]),
                  closed_won.get(d["properties"].get("hs_is_closed_won")),
                  instant(d["properties"].get("closedate")))
        for d in deals}
    won = sum(Decimal(d["properties"]["amount"]) for d in deals
              if d["properties"]["dealstage"] == "closedwon")
    assert query(db, "select sum(amount) from staging.stg_hubspot__deals "
                     "where is_closed_won") == [(won,)]


def test_hubspot_associations_one_row_per_pair(crm) -> None:
    data, folder, *_ = crm
    expected: dict[tuple, bool] = {}
    for kind in ("contacts", "deals"):
        for record in pages(folder / "hubspot" / kind, "results"):
            for to_kind, listed in (record.get("associations") or {}).items():
                for row in listed["results"]:
                    pair = (SINGULAR[kind], record["id"], SINGULAR[to_kind], row["id"])
                    expected[pair] = expected.get(pair, False) or row["type"] in PRIMARY_LABELS
    labels = sum(len(listed["results"]) for kind in ("contacts", "deals")
                 for record in pages(folder / "hubspot" / kind, "results")
                 for listed in (record.get("associations") or {}).values())
    assert labels > len(expected)  # pairs were listed once per label
    rows = query(data.warehouse_db, "select from_object_type, from_id, to_object_type, "
                                    "to_id, is_primary from staging.stg_hubspot__associations")
    assert {r[:4]: r[4] for r in rows} == expected
    assert len(rows) == len(expected)


def test_hubspot_deal_stage_history_one_row_per_change(crm) -> None:
    data, folder, truth, _ = crm
    deals = pages(folder / "hubspot" / "deals", "results")
    expected = sorted(
        (d["id"], e["value"], instant(e["timestamp"]), e.get("sourceType"), e.get("sourceId"),
         e.get("sourceLabel"), None if e.get("updatedByUserId") is None
         else str(e["updatedByUserId"]))
        for d in deals for e in d["propertiesWithHistory"]["dealstage"])
    assert len(expected) == truth["rows"]["hubspot_deal_stage_changes"]
    staged = query(data.warehouse_db, "select hubspot_deal_id, deal_stage, changed_at, "
                                      "source_type, source_id, source_label, "
                                      "updated_by_user_id "
                                      "from staging.stg_hubspot__deal_stage_history")
    assert sorted(staged) == expected
    # a deal's latest change is its current stage
    latest = query(data.warehouse_db, "select hubspot_deal_id, arg_max(deal_stage, changed_at) "
                                      "from staging.stg_hubspot__deal_stage_history group by 1")
    assert dict(latest) == {d["id"]: d["properties"]["dealstage"] for d in deals}


def test_intercom_contacts_conversations_and_their_links(crm) -> None:
    data, folder, truth, _ = crm
    db = data.warehouse_db
    contacts = pages(folder / "intercom" / "contacts", "data")
    conversations = pages(folder / "intercom" / "conversations", "conversations")
    assert (len(contacts), len(conversations)) == (
        truth["rows"]["intercom_contacts"], truth["rows"]["intercom_conversations"])
    assert sorted(query(db, "select intercom_contact_id, external_id, role, email, "
                            "created_at, signed_up_at, updated_at "
                            "from staging.stg_intercom__contacts")) == sorted(
        (c["id"], c["external_id"], c["role"], c["email"], unix(c["created_at"]),
         unix(c["signed_up_at"]), unix(c["updated_at"]))
        for c in contacts)
    assert sorted(query(db, "select intercom_conversation_id, state, is_open, created_at, "
                            "first_admin_reply_at, seconds_to_admin_reply "
                            "from staging.stg_intercom__conversations")) == sorted(
        (c["id"], c["state"], c["open"], unix(c["created_at"]),
         unix((c["statistics"] or {}).get("first_admin_reply_at")),
         (c["statistics"] or {}).get("time_to_admin_reply"))
        for c in conversations)
    assert sorted(query(db, "select intercom_conversation_id, intercom_contact_id, "
                            "external_id from staging.stg_intercom__conversation_contacts")
                  ) == sorted(
        (c["id"], p["id"], p.get("external_id"))
        for c in conversations for p in c["contacts"]["contacts"])


def test_posthog_events_union_export_first_and_api_for_the_rest(crm) -> None:
    data, _, truth, served = crm
    by_pipeline = dict(query(data.warehouse_db, "select source_pipeline, count(*) "
                                                "from staging.stg_posthog__events group by 1"))
    unique = truth["rows"]["posthog_unique_events"]
    assert by_pipeline == {"posthog-files": unique - EXPORT_LAG, "posthog-api": EXPORT_LAG}
    from_api = query(data.warehouse_db, "select event_id, inserted_at, source_file "
                                        "from staging.stg_posthog__events "
                                        "where source_pipeline = 'posthog-api'")
    assert {r[0] for r in from_api} == served["lagging"]
    assert {r[1:] for r in from_api} == {(None, None)}


def test_posthog_persons_and_distinct_ids_as_the_api_serves_them(crm) -> None:
    data, *_, served = crm
    db = data.warehouse_db
    assert dict(query(db, "select posthog_person_id, is_identified "
                          "from staging.stg_posthog__persons")) == served["persons"]
    assert dict(query(db, "select distinct_id, posthog_person_id "
                          "from staging.stg_posthog__person_distinct_ids")
                ) == served["distinct_ids"]


def test_a_warehouse_without_these_sources_builds_them_empty(generated_small, tmp_path
                                                            ) -> None:
    folder, _ = generated_small
    data = DataDir(tmp_path / "app-only").ensure()
    run_source(data, "app-files", str(folder / "app"))
    result = run_dbt(data, "build", quiet=True)
    assert result.ok
    assert result.count("test", "fail") == 0
    for model in (*NEW_MODELS, "stg_posthog__events"):
        assert query(data.warehouse_db, f"select count(*) from staging.{model}") == [(0,)]
    statuses = statuses_of_tests(data, NEW_MODELS)
    assert statuses and set(statuses.values()) == {"pass"}


# -- HubSpot archives: no association with an archived end --------------------------------
ARCHIVE_T0 = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)


def _hubspot_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _crm_record(object_id: str, hour: int, properties: dict, associations: dict) -> dict:
    """A record in HubSpot's list-API shape; `associations` maps an object type to
    [(id, list-API label), ...]."""
    at = _hubspot_time(ARCHIVE_T0 + dt.timedelta(hours=hour))
    return {
        "id": object_id,
        "properties": {"createdate": _hubspot_time(ARCHIVE_T0), "hs_object_id": object_id,
                       **{name: at for name in properties.pop("_modified")}, **properties},
        "createdAt": _hubspot_time(ARCHIVE_T0), "updatedAt": at, "archived": False,
        "associations": {kind: {"results": [{"id": i, "type": label} for i, label in rows]}
                         for kind, rows in associations.items()},
    }


def archive_records() -> dict[str, list[dict]]:
    """Companies 900-902; contacts 1-5, contact 4 archived before the first load; deals
    20-23, deal 23 linked to the archived contact 4."""
    def company(object_id: str, hour: int) -> dict:
        return _crm_record(object_id, hour, {"_modified": ["hs_lastmodifieddate"],
                                             "name": f"Co {object_id}",
                                             "numberofemployees": "10"}, {})

    def contact(object_id: str, hour: int, company_id: str) -> dict:
        return _crm_record(object_id, hour, {"_modified": ["lastmodifieddate"],
                                             "email": f"c{object_id}@x.io",
                                             "associatedcompanyid": company_id},
                           {"companies": [(company_id, "contact_to_company"),
                                          (company_id, "contact_to_company_unlabeled")]})

    def deal(object_id: str, hour: int, company_id: str, contact_id: str) -> dict:
        return _crm_record(object_id, hour, {"_modified": ["hs_lastmodifieddate"],
                                             "dealname": f"deal {object_id}",
                                             "dealstage": "qualifiedtobuy",
                                             "amount": "100.00", "pipeline": "default"},
                           {"companies": [(company_id, "deal_to_company")],
                            "contacts": [(contact_id, "deal_to_contact")]})

    records = {
        "companies": [company("900", 1), company("901", 2), company("902", 3)],
        "contacts": [contact("1", 4, "900"), contact("2", 5, "900"), contact("3", 6, "901"),
                     contact("4", 7, "901"), contact("5", 8, "902")],
        "deals": [deal("20", 9, "900", "1"), deal("21", 10, "901", "3"),
                  deal("22", 11, "902", "5"), deal("23", 12, "901", "4")],
    }
    archived = records["contacts"][3]
    archived["archived"] = True
    archived["archivedAt"] = _hubspot_time(ARCHIVE_T0 + dt.timedelta(hours=13))
    return records


def staged_pairs(data: DataDir) -> set[tuple]:
    return set(query(data.warehouse_db, "select from_object_type, from_id, to_object_type, "
                                        "to_id from staging.stg_hubspot__associations"))


def test_archived_records_leave_no_association_either_way(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")
    data = DataDir(tmp_path / "archives").ensure()
    build = ["--select", "path:models/staging/hubspot"]
    with HubSpotAPI(archive_records(), search_rate=None) as api:
        def ingest() -> None:
            run_source(data, "hubspot", base_url=api.base_url, access_token=api.token,
                       search_requests_per_second=50.0)

        ingest()
        assert run_dbt(data, "build", build, quiet=True).ok
        # contact 4 was archived before the first load: deal 23 → contact 4 (read from the
        # live deal) is gone, and contact 4's own company was never read
        assert staged_pairs(data) == {
            ("contact", "1", "company", "900"), ("contact", "2", "company", "900"),
            ("contact", "3", "company", "901"), ("contact", "5", "company", "902"),
            ("deal", "20", "company", "900"), ("deal", "20", "contact", "1"),
            ("deal", "21", "company", "901"), ("deal", "21", "contact", "3"),
            ("deal", "22", "company", "902"), ("deal", "22", "contact", "5"),
            ("deal", "23", "company", "901"),
        }
        # a contact with a company and a deal, a company with two contacts and two deals,
        # and a deal with a company and a contact; nobody on the other side changes
        archived_at = ARCHIVE_T0 + dt.timedelta(days=1)
        api.archive("contacts", "1", archived_at)
        api.archive("companies", "901", archived_at)
        api.archive("deals", "22", archived_at)
        ingest()
    assert run_dbt(data, "build", build, quiet=True).ok
    assert staged_pairs(data) == {
        ("contact", "2", "company", "900"), ("contact", "5", "company", "902"),
        ("deal", "20", "company", "900"), ("deal", "21", "contact", "3"),
    }
    # the archived records stay in staging, flagged; raw keeps their association rows
    assert query(data.warehouse_db, "select hubspot_contact_id from staging."
                                    "stg_hubspot__contacts where is_archived order by 1"
                 ) == [("1",), ("4",)]
    assert query(data.raw_db, "select count(*) from raw_hubspot.contact_company_associations "
                              "where from_id = '1'") == [(2,)]
    assert query(data.raw_db, "select count(*) from raw_hubspot.deal_contact_associations "
                              "where from_id = '23' and to_id = '4'") == [(1,)]
