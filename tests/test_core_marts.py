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


# -- issue 14, item 12: events sent from both sides count once ---------------------------

def test_each_signup_counts_once(full_warehouse) -> None:
    """The app writes signed_up server side and posthog-js captures it too: fct_events
    holds both copies, and the counted rows are exactly the app's signups."""
    data, ref = full_warehouse
    client_copies = sum(e["event"] == "signed_up" for e in ref.export_events.values())
    assert client_copies > len(ref.users) // 2  # the duplicate gap is really there
    assert ref.counted_events()["signed_up"] == len(ref.users)
    assert query(
        data,
        "select events, persons from marts.fct_tracking_plan_coverage "
        "where event_name = 'signed_up'",
    ) == [(len(ref.users), len(ref.users))]
    assert query(
        data,
        "select count(*), count(case when is_counted then 1 end) from marts.fct_events "
        "where event_name = 'signed_up'",
    ) == [(len(ref.users) + client_copies, len(ref.users))]


def test_the_copies_are_the_ones_the_reference_pairs(full_warehouse) -> None:
    """Exactly the PostHog rows the plain-Python pairing calls copies are not counted, each
    naming the same app event; app rows and CRM touchpoints always count."""
    data, ref = full_warehouse
    rows = query(
        data,
        "select event_id, copy_of_event_id from marts.fct_events where not is_counted",
    )
    assert dict(rows) == ref.copies
    assert len(ref.copies) > 1000
    assert query(
        data,
        "select source, count(*) from marts.fct_events "
        "where not is_counted or copy_of_event_id is not null group by 1",
    ) == [("posthog", len(ref.copies))]
    counted = dict(query(
        data,
        "select event_name, count(*) from marts.fct_events "
        "where is_counted and source in ('posthog', 'app') group by 1",
    ))
    assert counted == dict(ref.counted_events())


def crm_touchpoints(ref) -> Counter:
    """Person -> CRM touchpoints from the files: one per Intercom contact listed on a
    conversation, one per deal stage change per contact on the deal."""
    person = {c["id"]: ref.intercom_person(c) for c in ref.crm_records("intercom", "contacts")}
    counts: Counter = Counter()
    for conversation in ref.crm_records("intercom", "conversations"):
        for contact in {c["id"] for c in conversation["contacts"]["contacts"]}:
            counts[person.get(contact, f"intercom:{contact}")] += 1
    deals, _ = ref.deal_stage_touchpoints()
    counts.update(deals)
    return counts


def test_every_count_in_the_marts_counts_occurrences_once(full_warehouse) -> None:
    """dim_persons.lifetime_events, fct_sessions.events and the tracking plan's volumes
    count each real occurrence once."""
    data, ref = full_warehouse
    lifetime = ref.counted_lifetime_events()
    crm = crm_touchpoints(ref)
    rows = dict(query(
        data, "select app_user_id, lifetime_events from marts.dim_persons "
              "where app_user_id is not null"))
    assert rows == {uid: lifetime[uid] + crm.get(uid, 0) for uid in ref.users}
    (counted,) = query(data, "select count(*) from marts.fct_events where is_counted")[0]
    assert query(data, "select sum(events) from marts.fct_sessions") == [(counted,)]
    coverage = dict(query(
        data, "select event_name, events from marts.fct_tracking_plan_coverage "
              "where events > 0 and event_name not in "
              "('conversation_opened', 'deal_stage_changed')"))
    expected = {name: n for name, n in ref.counted_events().items()
                if not name.startswith("$")}
    assert coverage == expected


# -- issue 14, item 11: first touch as one channel ------------------------------------------

def test_first_touch_is_one_normalised_channel(full_warehouse) -> None:
    """A tagged Google visit (utm_source google) and an untagged one (www.google.com) are
    one bucket; the raw fields stay beside it."""
    data, ref = full_warehouse
    raw = ref.first_touch()
    sources = ref.first_touch_sources()
    rows = query(
        data,
        "select app_user_id, first_touch_source, utm_source, utm_medium, utm_campaign, "
        "initial_referring_domain from marts.dim_persons where app_user_id is not null",
    )
    got = {r[0]: r[1:] for r in rows}
    users = {uid for uid in ref.users if uid in raw}
    assert len(users) > len(ref.users) // 2
    buckets = {got[uid][0] for uid in users}
    assert buckets == {"google", "linkedin", "newsletter", "g2", "direct"}
    for uid in users:
        assert got[uid] == (sources[uid], *raw[uid]), uid
    google = {uid for uid in users if got[uid][0] == "google"}
    assert {got[uid][1] for uid in google} == {"google", None}  # tagged and untagged
    assert {got[uid][4] for uid in google} == {"www.google.com"}
    assert query(
        data,
        "select count(*) from marts.dim_persons "
        "where first_touch_source is not null and first_touch_origin = 'posthog'",
    ) == [(len(raw),)]
    # the demo app carries no attribution: users PostHog never saw have no first touch
    assert query(
        data,
        "select count(*) from marts.dim_persons where app_user_id is not null and "
        "first_touch_origin is null and first_touch_source is null",
    ) == [(len(ref.users) - len(users),)]
