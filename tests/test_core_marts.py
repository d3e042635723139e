"""The core marts on a warehouse fed by every source (PostHog exports, the app's tables,
HubSpot and Intercom through their stand-ins). Expected values come from tests/reference.py,
a plain-Python reading of the generated files, never from the marts themselves."""

from __future__ import annotations

import json
from collections import Counter

import duckdb

from journeys.paths import DataDir
from tests.reference import normalise_email


def query(data: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data.warehouse_db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_one_person_per_human_across_every_source(full_warehouse) -> None:
    data, ref = full_warehouse
    humans = json.loads((data.generated / "truth.json").read_text())["humans"]
    assert humans["crm_only_leads"] > 0
    expected = len(ref.users) + len(ref.visitors()) + ref.crm_only_leads()
    assert expected == humans["total"]
    assert query(data, "select count(*), count(app_user_id) from marts.dim_persons") == [
        (expected, len(ref.users))
    ]
    # every person with an event is in dim_persons, and only those plus CRM-only leads
    assert query(
        data,
        "select count(*) from marts.dim_persons where person_id not in "
        "(select person_id from marts.fct_events) and hubspot_contact_id is null "
        "and intercom_conversations = 0 and app_user_id is null",
    ) == [(0,)]


def test_crm_only_leads_are_persons_with_their_email(full_warehouse) -> None:
    data, ref = full_warehouse
    lead_emails = {
        normalise_email(c["properties"]["email"])
        for c in ref.crm_records("hubspot", "contacts")
        if normalise_email(c["properties"]["email"]) not in ref.user_by_email
    }
    rows = query(
        data,
        "select email from marts.dim_persons "
        "where app_user_id is null and hubspot_contact_id is not null",
    )
    assert sorted(r[0] for r in rows) == sorted(lead_emails)
    assert query(
        data,
        "select count(*) from marts.dim_persons "
        "where app_user_id is null and hubspot_contact_id is not null "
        "and (trial_outcome is not null or signed_up_at is not null)",
    ) == [(0,)]


def test_hubspot_lifecycle_stage_and_company_of_app_users(full_warehouse) -> None:
    data, ref = full_warehouse
    expected = ref.hubspot_by_user()
    assert len(expected) > len(ref.users) // 2
    assert len({row[1] for row in expected.values()}) >= 3  # several stages planted
    rows = query(
        data,
        "select app_user_id, hubspot_contact_id, hubspot_lifecycle_stage, hubspot_company_id, "
        "hubspot_company_name from marts.dim_persons where app_user_id is not null",
    )
    got = {r[0]: r[1:] for r in rows}
    assert {uid: v for uid, v in got.items() if v[0] is not None} == expected


def test_intercom_conversations_are_counted_and_are_touchpoints(full_warehouse) -> None:
    data, ref = full_warehouse
    per_person, touchpoints = ref.intercom_conversations()
    assert touchpoints > 0
    assert query(
        data,
        "select count(*) from marts.fct_events "
        "where source = 'intercom' and event_name = 'conversation_opened'",
    ) == [(touchpoints,)]
    rows = dict(
        query(
            data,
            "select app_user_id, intercom_conversations from marts.dim_persons "
            "where app_user_id is not null and intercom_conversations > 0",
        )
    )
    assert rows == {p: n for p, n in per_person.items() if p in ref.users}
    # a user's touchpoints land on the user
    per_user_events = dict(
        query(
            data,
            "select person_id, count(distinct properties->>'conversation_id') "
            "from marts.fct_events where source = 'intercom' and app_user_id is not null "
            "group by 1",
        )
    )
    assert per_user_events == rows


def test_deal_stage_changes_are_touchpoints_of_the_deals_contacts(full_warehouse) -> None:
    data, ref = full_warehouse
    per_person, moves = ref.deal_stage_touchpoints()
    users = {p: n for p, n in per_person.items() if p in ref.users}
    assert users and sum(per_person.values()) > len(moves) / 2
    assert query(
        data,
        "select count(*) from marts.fct_events "
        "where source = 'hubspot' and event_name = 'deal_stage_changed'",
    ) == [(sum(per_person.values()),)]
    got = dict(
        query(
            data,
            "select app_user_id, count(*) from marts.fct_events "
            "where event_name = 'deal_stage_changed' and app_user_id is not null group by 1",
        )
    )
    assert got == users
    # the stage each change left: deals per (stage, previous stage)
    pairs = query(
        data,
        "select properties->>'deal_stage', properties->>'previous_deal_stage', "
        "count(distinct properties->>'deal_id') from marts.fct_events "
        "where event_name = 'deal_stage_changed' group by 1, 2",
    )
    assert {(a, b): n for a, b, n in pairs} == Counter(moves)
    assert Counter(moves)[("appointmentscheduled", None)] == len(
        {d for d, in query(data, "select distinct properties->>'deal_id' from marts.fct_events "
                                 "where event_name = 'deal_stage_changed'")})
