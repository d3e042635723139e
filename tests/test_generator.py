"""The demo generator: deterministic, faithful to each source's shape, and its planted
truths agree with an independent re-reading of the files (tests/reference.py)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import uuid
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from journeys import generator
from tests.conftest import GEN_USERS

EXPORT_COLUMNS = [
    "uuid",
    "timestamp",
    "_inserted_at",
    "created_at",
    "event",
    "properties",
    "distinct_id",
    "elements_chain",
    "person_properties",
    "person_id",
]
WINDOW = re.compile(r"^(\S+\+00:00)-(\S+\+00:00)\.(jsonl|parquet)$")


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    generator.generate(tmp_path / "a", users=150, seed=3, chunk_users=60)
    generator.generate(tmp_path / "b", users=150, seed=3, chunk_users=60)
    generator.generate(tmp_path / "c", users=150, seed=4, chunk_users=60)
    a, b, c = (digest(tmp_path / x) for x in "abc")
    assert a == b
    assert len(a) > 10
    assert a["app/users.csv"] != c["app/users.csv"]


def test_regenerating_replaces_the_previous_output(tmp_path: Path) -> None:
    generator.generate(tmp_path, users=120, seed=1)
    generator.generate(tmp_path, users=40, seed=1)
    with open(tmp_path / "app" / "users.csv") as handle:
        assert sum(1 for _ in handle) == 41  # header + 40 users, none left from the first run


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generator.generate(tmp_path, users=0)
    with pytest.raises(ValueError, match="format"):
        generator.generate(tmp_path, users=5, fmt="csv")
    with pytest.raises(ValueError, match="Monday"):
        generator.generate(tmp_path, users=5, start=dt.date(2026, 5, 5))


def test_jsonl_export_rows_have_every_export_column_with_its_type(generated) -> None:
    folder, _ = generated
    files = sorted((folder / "posthog" / "events").glob("*.jsonl"))
    assert len(files) > 150  # daily windows over ~28 weeks, plus one backfill window
    for path in files:
        start, end, _ = WINDOW.match(path.name).groups()
        window = (dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                assert list(row) == EXPORT_COLUMNS
                uuid.UUID(row["uuid"])
                uuid.UUID(row["person_id"])
                stamps = [
                    dt.datetime.fromisoformat(row[c])
                    for c in ("timestamp", "_inserted_at", "created_at")
                ]
                assert all(s.utcoffset() == dt.timedelta(0) for s in stamps)
                assert stamps[0] <= stamps[2] <= stamps[1]  # happened ≤ received ≤ stored
                assert window[0] <= stamps[1] < window[1]  # file windows cut on _inserted_at
                assert isinstance(row["properties"], dict)
                assert isinstance(row["person_properties"], dict)
                assert isinstance(row["distinct_id"], str) and row["distinct_id"]
                assert isinstance(row["elements_chain"], str)
                assert (row["elements_chain"] != "") == (row["event"] == "$autocapture")
                assert row["properties"]["$session_id"]


def test_parquet_export_uses_the_parquet_types(tmp_path: Path) -> None:
    generator.generate(tmp_path, users=80, seed=5, fmt="parquet")
    files = sorted((tmp_path / "posthog" / "events").glob("*.parquet"))
    assert files
    schema = pq.read_schema(files[0])
    assert schema.names == EXPORT_COLUMNS
    for name in ("timestamp", "_inserted_at", "created_at"):
        assert str(schema.field(name).type) == "timestamp[us, tz=UTC]"
    for name in ("uuid", "event", "properties", "distinct_id", "person_properties"):
        assert schema.field(name).type in ("string", "large_string")
    first = pq.read_table(files[0]).slice(0, 1).to_pylist()[0]
    assert isinstance(json.loads(first["properties"]), dict)  # JSON held as text


def test_identify_links_anonymous_browsing_to_the_user(reference) -> None:
    identifies = [e for e in reference.export_events.values() if e["event"] == "$identify"]
    assert identifies
    for event in identifies:
        anon = event["properties"]["$anon_distinct_id"]
        assert event["distinct_id"] in reference.users
        assert anon != event["distinct_id"]
        assert (
            event["properties"]["$set"]["email"] == reference.users[event["distinct_id"]]["email"]
        )
    # the anonymous id browsed before it was identified
    earliest = {}
    for event in reference.export_events.values():
        d = event["distinct_id"]
        earliest[d] = min(earliest.get(d, event["ts"]), event["ts"])
    before = sum(
        earliest[e["properties"]["$anon_distinct_id"]] < e["ts"]
        for e in identifies
        if e["properties"]["$anon_distinct_id"] in earliest
    )
    assert before >= 0.9 * len(identifies)


def test_two_device_users_are_identified_on_both_devices(generated, reference) -> None:
    _, truth = generated
    tracked = set(map(str, truth["two_device_users"]["user_ids"]))
    anon_ids: dict[str, set[str]] = {}
    for anon, uid in reference.identified_as.items():
        anon_ids.setdefault(uid, set()).add(anon)
    both = {uid for uid, ids in anon_ids.items() if len(ids) >= 2}
    assert truth["two_device_users"]["both_devices_tracked"] == len(both)
    assert both <= tracked
    # about a fifth use a second device (P=0.20), of whom ~56% have both devices unblocked
    assert 0.12 < len(tracked) / GEN_USERS < 0.28


def test_app_tables_are_consistent(reference) -> None:
    assert len(reference.users) == GEN_USERS
    ids = [e["id"] for e in reference.app_events]
    assert len(set(ids)) == len(ids)
    assert {e["user_id"] for e in reference.app_events} <= set(reference.users)
    for user in reference.users.values():
        if user["converted_at"]:
            assert user["plan"] in ("pro", "team")
        if user["churned"] == "true":
            assert user["churned_at"] is not None


def test_truth_matches_an_independent_reading_of_the_files(generated, reference) -> None:
    _, truth = generated
    assert truth["users"] == GEN_USERS
    assert {
        c["cohort_week"]: c["size"] for c in truth["cohorts"] if c["size"]
    } == reference.cohort_sizes()
    assert len(truth["cohorts"]) == 26
    assert [
        s["persons_reached"] for s in truth["activation_funnel"]["steps"]
    ] == reference.funnel_reached()
    invite = truth["invite_conversion"]
    assert {
        k: invite[k]
        for k in ("persons_with", "converted_with", "persons_without", "converted_without")
    } == reference.invite_conversion()
    assert truth["trial_outcomes"] == {
        k: reference.trial_outcomes().get(k, 0) for k in truth["trial_outcomes"]
    }
    loss = reference.tracking_loss()
    assert {
        k: (v["server"], v["client"]) for k, v in truth["tracking_loss"]["by_event"].items()
    } == loss
    assert truth["rows"]["posthog_unique_events"] == len(reference.export_events)
    assert truth["rows"]["posthog_export_rows"] == len(reference.export_rows)
    assert truth["rows"]["app_events"] == len(reference.app_events)
    assert truth["humans"]["anonymous_visitors_with_events"] == len(reference.visitors())
    assert truth["humans"]["crm_only_leads"] == reference.crm_only_leads()
    assert truth["humans"]["total"] == (
        GEN_USERS + len(reference.visitors()) + reference.crm_only_leads()
    )
    assert truth["data_end"] == reference.data_end.isoformat()
    assert truth["segments"]["counts"] == {
        k: reference.segments().get(k, 0) for k in truth["segments"]["counts"]
    }


def test_engagement_and_metrics_truths_match_an_independent_reading_of_the_files(
    generated, reference
) -> None:
    """truth.json's `lifecycle`, `intervention_triggers` and `daily_metrics` (counted by the
    generator from its simulated arrays, chunk by chunk) are what the plain-Python
    references make of the files (1,200 users in three chunks, so chunk seams are in)."""
    from tests.engagement_reference import lifecycle
    from tests.metrics_reference import daily_metrics
    from tests.retention_reference import Person
    from tests.test_engagement import (
        direct_trigger_counts,
        generated_persons_and_events,
        planted_lifecycle,
    )
    from tests.test_metrics import PLANTED_DAY_COLUMNS, demo_events

    _, truth = generated
    persons, events = generated_persons_and_events(reference)
    assert planted_lifecycle(truth) == lifecycle(persons, events)
    assert truth["lifecycle"]["anonymous_visitors_ever_active"] == 0
    rules = truth["intervention_triggers"]["rules"]
    assert {rule: set(map(str, planted["user_ids"])) for rule, planted in rules.items()} == (
        direct_trigger_counts(reference, persons, events))
    assert all(planted["anonymous_visitors"] == 0 for planted in rules.values())
    days = daily_metrics(
        [Person(uid, u["signed_up_at"], u["converted_at"], u["churned_at"])
         for uid, u in reference.users.items()],
        demo_events(reference),
    )
    assert {dt.date.fromisoformat(day["metric_date"]): tuple(day[c] for c in
                                                             PLANTED_DAY_COLUMNS)
            for day in truth["daily_metrics"]["days"]} == {
        date: tuple(getattr(day, c) for c in PLANTED_DAY_COLUMNS) for date, day in days.items()}


def test_planted_effects_are_there(generated) -> None:
    _, truth = generated
    invite = truth["invite_conversion"]
    assert 0.58 < invite["rate_with"] < 0.78  # planted 68%
    assert 0.13 < invite["rate_without"] < 0.24  # planted 18%
    assert 0.20 < truth["tracking_loss"]["loss_pct"] < 0.30  # planted 25% ad blockers
    steps = truth["activation_funnel"]["steps"]
    assert steps[0]["persons_reached"] == GEN_USERS
    assert (
        steps[0]["persons_reached"]
        > steps[1]["persons_reached"]
        > steps[2]["persons_reached"]
        > steps[3]["persons_reached"]
        > 0
    )
    assert truth["rows"]["posthog_duplicate_rows"] > 0  # the backfill re-exported a window
    shares = truth["segments"]["shares"]
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert all(shares[s] > 0.02 for s in shares)


def test_app_dump_replays_into_a_real_postgres(generated, tmp_path: Path) -> None:
    from journeys.postgres import embedded_server, load_app_tables

    folder, truth = generated
    server = embedded_server(tmp_path / "pg")
    try:
        counts = load_app_tables(server.get_uri(), folder / "app")
        assert counts == {"users": GEN_USERS, "events": truth["rows"]["app_events"]}
        with psycopg.connect(server.get_uri()) as con, con.cursor() as cur:
            cur.execute(
                "select count(*) from events e join users u on u.id = e.user_id "
                "where e.name = 'signed_up' and e.created_at = u.signed_up_at"
            )
            # every user has its signup event at the signup instant
            assert cur.fetchone()[0] == GEN_USERS
    finally:
        server.cleanup()


def test_crm_pages_follow_the_vendors_list_shapes(generated) -> None:
    folder, truth = generated
    for kind in ("contacts", "companies", "deals"):
        pages = sorted((folder / "hubspot" / kind).glob("page-*.json"))
        bodies = [json.loads(p.read_text()) for p in pages]
        assert all("paging" in b for b in bodies[:-1]) and "paging" not in bodies[-1]
        assert all(len(b["results"]) == 100 for b in bodies[:-1])
        assert sum(len(b["results"]) for b in bodies) == truth["rows"][f"hubspot_{kind}"]
        for body in bodies:
            for record in body["results"]:
                assert isinstance(record["id"], str)
                assert all(v is None or isinstance(v, str) for v in record["properties"].values())
                assert record["createdAt"].endswith("Z")
    for kind, key in (("contacts", "data"), ("conversations", "conversations")):
        pages = sorted((folder / "intercom" / kind).glob("page-*.json"))
        bodies = [json.loads(p.read_text()) for p in pages]
        total = truth["rows"][f"intercom_{kind}"]
        assert all(b["total_count"] == total for b in bodies)
        assert [b["pages"]["page"] for b in bodies] == list(range(1, len(bodies) + 1))
        assert all("next" in b["pages"] for b in bodies[:-1]) and "next" not in bodies[-1]["pages"]
        assert sum(len(b[key]) for b in bodies) == total
        for body in bodies:
            for record in body[key]:
                assert isinstance(record["created_at"], int)
                assert isinstance(record["updated_at"], int)


def test_crm_emails_differ_only_in_case_or_space_for_some_users(reference) -> None:
    from tests.reference import normalise_email

    user_emails = {u["email"] for u in reference.users.values()}
    noisy = 0
    for page in (reference.root / "hubspot" / "contacts").glob("page-*.json"):
        for contact in json.loads(page.read_text())["results"]:
            email = contact["properties"]["email"]
            if email not in user_emails and normalise_email(email) in user_emails:
                noisy += 1
    assert noisy > 0


def test_users_csv_is_what_postgres_copy_expects(generated) -> None:
    folder, _ = generated
    with open(folder / "app" / "users.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == [
        "id",
        "email",
        "signed_up_at",
        "plan",
        "converted_at",
        "churned",
        "churned_at",
        "updated_at",
    ]
