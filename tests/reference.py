"""An independent, plain-Python reading of a generated data folder.

It uses only the files (CSV, JSONL, JSON pages) and SEMANTICS.md's definitions, never the
generator's code, so tests can check both the generator's truth.json and the warehouse's
marts against numbers worked out a second way.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

DAY = dt.timedelta(days=1)
SEEDS = Path(__file__).resolve().parents[1] / "seeds"
# dbt_project.yml's server_copy_window_seconds: how far apart two copies of one occurrence
# (the app's server event and PostHog's) can be
COPY_WINDOW = dt.timedelta(seconds=60)
FUNNEL = (
    ("signed_up", None),
    ("workspace_created", None),
    ("first_item_created", ("item_type", "project")),
    ("onboarding_completed", None),
)


def parse_app_time(text: str) -> dt.datetime | None:
    """The app's `timestamp(3)` text (UTC without a zone)."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _descending(text: str) -> tuple[int, ...]:
    """Sorts text in reverse byte order, so max() keeps the smallest."""
    return (*(-b for b in text.encode()), 1)  # 1: a prefix sorts before its extensions


def normalise_email(email: str) -> str:
    return email.strip().lower()  # str.strip() removes Unicode white space, NBSP included


def referrer_sources(path: Path = SEEDS / "referrer_sources.csv") -> dict[str, str]:
    """The people-owned map of referring domain (or domain suffix) -> source."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["referrer_domain"].strip().lower(): row["source"].strip()
                for row in csv.DictReader(handle)}


def touch_source(utm_source: str | None, referring_domain: str | None,
                 sources: dict[str, str]) -> str | None:
    """One normalised source for a touch (dim_persons.first_touch_source): the utm_source
    stripped and lower-cased, else the referring domain's: `$direct` is direct; a host equal
    to an entry or ending in '.' + entry takes the longest such entry's source; any other
    host is itself without a leading www. or m."""
    utm = (utm_source or "").strip().lower()
    if utm:
        return utm
    host = (referring_domain or "").strip().lower().split(":")[0]
    if not host:
        return None
    if host == "$direct":
        return "direct"
    matches = [d for d in sources if host == d or host.endswith("." + d)]
    if matches:
        return sources[max(matches, key=len)]
    for prefix in ("www.", "m."):
        if host.startswith(prefix):
            return host[len(prefix):]
    return host


def pair_copies(server: list[tuple[dt.datetime, str]], client: list[tuple[dt.datetime, str]],
                window: dt.timedelta = COPY_WINDOW) -> dict[str, str]:
    """Client copy id -> server event id, one to one: each client event, in time order,
    takes the earliest server event still free within `window` of it (either side). For
    events of one person, name and library this greedy pairs as many as can be paired."""
    free = sorted(server)
    pairs: dict[str, str] = {}
    for at, client_id in sorted(client):
        for i, (server_at, server_id) in enumerate(free):
            if abs(server_at - at) <= window:
                pairs[client_id] = server_id
                del free[i]
                break
    return pairs


@dataclass(frozen=True)
class SourceEvent:
    """One row of fct_events as the files say it should be: `is_counted` is false on a
    PostHog copy of an app event; `deal_stage` is a HubSpot stage change's stage."""

    person_id: str
    name: str
    occurred_at: dt.datetime
    source: str = "app"
    is_counted: bool = True
    deal_stage: str | None = None


@dataclass
class Generated:
    root: Path
    users: dict[str, dict] = field(default_factory=dict)
    app_events: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        with open(self.root / "app" / "users.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                row["signed_up_at"] = parse_app_time(row["signed_up_at"])
                row["converted_at"] = parse_app_time(row["converted_at"])
                row["churned_at"] = parse_app_time(row["churned_at"])
                self.users[row["id"]] = row
        with open(self.root / "app" / "events.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                row["created_at"] = parse_app_time(row["created_at"])
                row["properties"] = json.loads(row["properties"])
                self.app_events.append(row)

    # -- PostHog exports -------------------------------------------------------------
    @cached_property
    def export_rows(self) -> list[dict]:
        rows = []
        for path in sorted((self.root / "posthog" / "events").glob("*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                rows.extend(json.loads(line) for line in handle)
        return rows

    @cached_property
    def export_events(self) -> dict[str, dict]:
        """Unique events by uuid (duplicates across files are the same event)."""
        events = {}
        for row in self.export_rows:
            row = dict(row)
            row["ts"] = dt.datetime.fromisoformat(row["timestamp"])
            events[row["uuid"]] = row
        return events

    @cached_property
    def identified_as(self) -> dict[str, str]:
        """Anonymous distinct_id -> the app user it was first identified as."""
        links: dict[str, tuple[dt.datetime, str, str]] = {}
        for event in self.export_events.values():
            if event["event"] != "$identify":
                continue
            anon = event["properties"].get("$anon_distinct_id")
            key = (event["ts"], event["uuid"], event["distinct_id"])
            if (
                anon
                and event["distinct_id"] in self.users
                and (anon not in links or key < links[anon])
            ):
                links[anon] = key
        return {anon: key[2] for anon, key in links.items() if anon not in self.users}

    def user_of(self, distinct_id: str) -> str | None:
        if distinct_id in self.users:
            return distinct_id
        return self.identified_as.get(distinct_id)

    # -- derived facts ------------------------------------------------------------------
    @cached_property
    def data_end(self) -> dt.datetime:
        return max(
            max(e["ts"] for e in self.export_events.values()),
            max(e["created_at"] for e in self.app_events),
        )

    def cohort_sizes(self) -> dict[str, int]:
        sizes: Counter = Counter()
        for user in self.users.values():
            day = user["signed_up_at"].date()
            sizes[(day - dt.timedelta(days=day.weekday())).isoformat()] += 1
        return dict(sizes)

    def funnel_reached(self, window: dt.timedelta = 14 * DAY) -> list[int]:
        """Ordered funnel over server events: each person's best attempt."""
        by_user: dict[str, list[tuple[dt.datetime, str, dict]]] = defaultdict(list)
        for event in self.app_events:
            by_user[event["user_id"]].append(
                (event["created_at"], event["name"], event["properties"])
            )
        reached = [0] * len(FUNNEL)
        for events in by_user.values():
            events.sort(key=lambda e: e[0])
            best = 0
            for i, (start, name, _) in enumerate(events):
                if name != FUNNEL[0][0]:
                    continue
                step, last = 1, start
                for at, other, props in events[i + 1 :]:
                    if step == len(FUNNEL) or at - start > window:
                        break
                    want, where = FUNNEL[step]
                    if (
                        other == want
                        and at >= last
                        and (where is None or props.get(where[0]) == where[1])
                    ):
                        step, last = step + 1, at
                best = max(best, step)
            for k in range(best):
                reached[k] += 1
        return reached

    def trial_ended(self, user: dict, trial_days: int = 14) -> bool:
        return user["signed_up_at"] + trial_days * DAY <= self.data_end

    def invite_conversion(self) -> dict[str, int]:
        invited = set()
        for event in self.app_events:
            if event["name"] == "team_member_invited":
                user = self.users[event["user_id"]]
                if dt.timedelta(0) <= event["created_at"] - user["signed_up_at"] <= 7 * DAY:
                    invited.add(event["user_id"])
        out = Counter()
        for uid, user in self.users.items():
            if not self.trial_ended(user):
                continue
            group = "with" if uid in invited else "without"
            out[f"persons_{group}"] += 1
            out[f"converted_{group}"] += user["converted_at"] is not None
        return dict(out)

    def trial_outcomes(self) -> dict[str, int]:
        out = Counter()
        for user in self.users.values():
            if user["converted_at"]:
                out["converted"] += 1
            elif user["churned"] == "true":
                out["churned"] += 1
            elif not self.trial_ended(user):
                out["in_trial"] += 1
            else:
                out["expired_trial"] += 1
        return dict(out)

    def tracking_loss(self) -> dict[str, tuple[int, int]]:
        """Per event sent by both sides: (server count, client count)."""
        server = Counter(e["name"] for e in self.app_events)
        client = Counter(e["event"] for e in self.export_events.values())
        return {name: (server[name], client[name]) for name in server if client[name]}

    def visitors(self) -> set[str]:
        return {
            e["distinct_id"]
            for e in self.export_events.values()
            if self.user_of(e["distinct_id"]) is None
        }

    def crm_only_leads(self) -> int:
        user_emails = {normalise_email(u["email"]) for u in self.users.values()}
        emails = set()
        for page in sorted((self.root / "hubspot" / "contacts").glob("page-*.json")):
            for contact in json.loads(page.read_text())["results"]:
                email = normalise_email(contact["properties"]["email"])
                if email not in user_emails:
                    emails.add(email)
        return len(emails)

    def lifetime_events(self) -> tuple[Counter, dict[str, dt.datetime]]:
        counts: Counter = Counter()
        last: dict[str, dt.datetime] = {}
        for event in self.export_events.values():
            uid = self.user_of(event["distinct_id"])
            if uid:
                counts[uid] += 1
                last[uid] = max(last.get(uid, event["ts"]), event["ts"])
        for event in self.app_events:
            uid = event["user_id"]
            counts[uid] += 1
            last[uid] = max(last.get(uid, event["created_at"]), event["created_at"])
        return counts, last

    def person_of(self, distinct_id: str) -> str:
        """The person key of a PostHog distinct_id: its app user, else the id itself (the
        generator plants no shared devices, so an anonymous id is one visitor)."""
        return self.user_of(distinct_id) or distinct_id

    # -- events sent from both sides --------------------------------------------------
    @cached_property
    def copies(self) -> dict[str, str]:
        """PostHog uuid -> the app event (`app-<id>`) it is another copy of: same person
        and name, the same `$lib` stream, paired one to one within COPY_WINDOW (or the
        uuid is the app event's id). These rows are not counted again."""
        by_id = {f"app-{e['id']}" for e in self.app_events}
        exact = {uuid: f"app-{uuid}" for uuid in self.export_events if f"app-{uuid}" in by_id}
        server: dict[tuple[str, str], list[tuple[dt.datetime, str]]] = defaultdict(list)
        for event in self.app_events:
            server[(event["user_id"], event["name"])].append(
                (event["created_at"], f"app-{event['id']}"))
        client: dict[tuple[str, str, str], list[tuple[dt.datetime, str]]] = defaultdict(list)
        for uuid, event in self.export_events.items():
            key = (self.person_of(event["distinct_id"]), event["event"])
            if key in server and uuid not in exact:
                library = event["properties"].get("$lib") or ""
                client[(*key, library)].append((event["ts"], uuid))
        pairs = dict(exact)
        for (person, name, _), events in client.items():
            pairs.update(pair_copies(server[(person, name)], events))
        return pairs

    def counted_events(self) -> Counter:
        """Event name -> real occurrences: every app event, and every PostHog event that is
        not a copy of one."""
        counts = Counter(e["name"] for e in self.app_events)
        counts.update(e["event"] for uuid, e in self.export_events.items()
                      if uuid not in self.copies)
        return counts

    def counted_lifetime_events(self) -> Counter:
        """App user -> their events counted once each (lifetime_events in dim_persons)."""
        counts: Counter = Counter(e["user_id"] for e in self.app_events)
        for uuid, event in self.export_events.items():
            uid = self.user_of(event["distinct_id"])
            if uid and uuid not in self.copies:
                counts[uid] += 1
        return counts

    def first_touch(self) -> dict[str, tuple[str | None, ...]]:
        """Person -> (utm_source, utm_medium, utm_campaign, referring_domain) of their
        earliest export event (by timestamp, then uuid) carrying a referring domain or
        any utm value, taken as one set (SEMANTICS.md, First touch)."""
        keys = ("utm_source", "utm_medium", "utm_campaign", "$referring_domain")
        first: dict[str, tuple] = {}
        for event in self.export_events.values():
            values = tuple(event["properties"].get(k) or None for k in keys)
            if not any(values):
                continue
            person = self.person_of(event["distinct_id"])
            order = (event["ts"], event["uuid"])
            if person not in first or order < first[person][0]:
                first[person] = (order, values)
        return {person: values for person, (_, values) in first.items()}

    def first_touch_sources(self) -> dict[str, str | None]:
        """Person -> the normalised source of their first touch (first_touch())."""
        sources = referrer_sources()
        return {person: touch_source(utm_source, domain, sources)
                for person, (utm_source, _, _, domain) in self.first_touch().items()}

    # -- CRM ----------------------------------------------------------------------------
    def crm_records(self, system: str, kind: str) -> list[dict]:
        """Every record of a generated list-API folder (HubSpot `results`, Intercom `data`
        or `conversations`)."""
        key = {"hubspot": "results", "intercom": "conversations" if kind == "conversations"
               else "data"}[system]
        return [record for page in sorted((self.root / system / kind).glob("page-*.json"))
                for record in json.loads(page.read_text())[key]]

    @cached_property
    def user_by_email(self) -> dict[str, str]:
        return {normalise_email(u["email"]): uid for uid, u in self.users.items()}

    def hubspot_by_user(self) -> dict[str, tuple[str, str | None, str | None, str | None]]:
        """User -> (contact id, lifecycle stage, company id, company name) of the user's
        most recently updated HubSpot contact (matched by normalised email; ties by id);
        the company is the primary association, else `associatedcompanyid`."""
        names = {c["id"]: c["properties"].get("name") for c in self.crm_records(
            "hubspot", "companies")}
        best: dict[str, tuple] = {}
        for contact in self.crm_records("hubspot", "contacts"):
            props = contact["properties"]
            uid = self.user_by_email.get(normalise_email(props.get("email") or ""))
            if uid is None:
                continue
            listed = (contact.get("associations") or {}).get("companies", {}).get("results", [])
            primary = [a["id"] for a in listed if a["type"] == "contact_to_company"]
            company = primary[0] if primary else (props.get("associatedcompanyid") or None)
            order = (dt.datetime.fromisoformat(contact["updatedAt"]), _descending(contact["id"]))
            row = (contact["id"], props.get("lifecyclestage") or None, company,
                   names.get(company))
            if uid not in best or order > best[uid][0]:
                best[uid] = (order, row)
        return {uid: row for uid, (_, row) in best.items()}

    def intercom_person(self, contact: dict) -> str:
        """An Intercom contact's person: its app user (external_id, else email), else the
        contact itself."""
        if contact.get("external_id") in self.users:
            return contact["external_id"]
        return self.user_by_email.get(normalise_email(contact.get("email") or ""),
                                      f"intercom:{contact['id']}")

    def intercom_conversations(self) -> tuple[Counter, int]:
        """(person -> conversations listing them, touchpoints: listed contacts summed over
        conversations)."""
        person = {c["id"]: self.intercom_person(c) for c in self.crm_records(
            "intercom", "contacts")}
        counts: Counter = Counter()
        touchpoints = 0
        for conversation in self.crm_records("intercom", "conversations"):
            listed = {c["id"] for c in conversation["contacts"]["contacts"]}
            touchpoints += len(listed)
            for who in {person.get(c, f"intercom:{c}") for c in listed}:
                counts[who] += 1
        return counts, touchpoints

    def deal_stage_touchpoints(self) -> tuple[Counter, list[tuple[str, str | None]]]:
        """(person -> stage-change touchpoints, (stage, previous stage) of every change of
        the deals with a contact). Each entry of a deal's `dealstage` history is one
        touchpoint of each contact associated with the deal; persons are users by contact
        email, else the contact."""
        email_of = {c["id"]: normalise_email(c["properties"].get("email") or "")
                    for c in self.crm_records("hubspot", "contacts")}
        counts: Counter = Counter()
        moves = []
        for deal in self.crm_records("hubspot", "deals"):
            history = sorted(deal["propertiesWithHistory"]["dealstage"],
                             key=lambda h: (dt.datetime.fromisoformat(h["timestamp"]), h["value"]))
            previous = [None, *(h["value"] for h in history[:-1])]
            listed = (deal.get("associations") or {}).get("contacts", {}).get("results", [])
            if listed:
                moves += [(h["value"], p) for h, p in zip(history, previous, strict=True)]
            for contact in {a["id"] for a in listed}:
                person = self.user_by_email.get(email_of.get(contact, ""), f"hubspot:{contact}")
                counts[person] += len(history)
        return counts, moves

    def source_events(self) -> list[SourceEvent]:
        """Every event of the generated files with its person, read the way fct_events
        should: app events; PostHog events (a copy of an app event not counted); one
        conversation_opened per Intercom contact on a conversation; one deal_stage_changed
        (with its stage) per stage change and contact on the deal."""
        events = [SourceEvent(e["user_id"], e["name"], e["created_at"])
                  for e in self.app_events]
        events += [SourceEvent(self.person_of(e["distinct_id"]), e["event"], e["ts"],
                               "posthog", uuid not in self.copies)
                   for uuid, e in self.export_events.items()]
        person = {c["id"]: self.intercom_person(c)
                  for c in self.crm_records("intercom", "contacts")}
        for conversation in self.crm_records("intercom", "conversations"):
            opened = dt.datetime.fromtimestamp(conversation["created_at"], dt.UTC)
            for contact in {c["id"] for c in conversation["contacts"]["contacts"]}:
                events.append(SourceEvent(person.get(contact, f"intercom:{contact}"),
                                          "conversation_opened", opened, "intercom"))
        email_of = {c["id"]: normalise_email(c["properties"].get("email") or "")
                    for c in self.crm_records("hubspot", "contacts")}
        for deal in self.crm_records("hubspot", "deals"):
            listed = (deal.get("associations") or {}).get("contacts", {}).get("results", [])
            for change in deal["propertiesWithHistory"]["dealstage"]:
                changed = dt.datetime.fromisoformat(change["timestamp"])
                for contact in {a["id"] for a in listed}:
                    who = self.user_by_email.get(email_of.get(contact, ""),
                                                 f"hubspot:{contact}")
                    events.append(SourceEvent(who, "deal_stage_changed", changed, "hubspot",
                                              deal_stage=change["value"]))
        return events

    def product_events(self) -> tuple[Counter, dict[str, dt.datetime]]:
        """App user -> their product events (segments: app events and PostHog events that
        are not a copy of one and not PostHog's own `$` events), and the last one's time."""
        counts: Counter = Counter()
        last: dict[str, dt.datetime] = {}
        for event in self.app_events:
            uid = event["user_id"]
            counts[uid] += 1
            last[uid] = max(last.get(uid, event["created_at"]), event["created_at"])
        for uuid, event in self.export_events.items():
            uid = self.user_of(event["distinct_id"])
            if uid and uuid not in self.copies and not event["event"].startswith("$"):
                counts[uid] += 1
                last[uid] = max(last.get(uid, event["ts"]), event["ts"])
        return counts, last

    def segments(self) -> dict[str, int]:
        counts, last = self.product_events()
        as_of = self.data_end.date()
        out: Counter = Counter()
        for uid, user in self.users.items():
            days = (as_of - last[uid].date()).days
            if user["churned"] == "true":
                out["churned"] += 1
            elif counts[uid] >= 100 and days <= 7:
                out["champion"] += 1
            elif counts[uid] >= 30 and days <= 14:
                out["power_user"] += 1
            elif days <= 14:
                out["active"] += 1
            elif days <= 30:
                out["at_risk"] += 1
            else:
                out["dormant"] += 1
        return dict(out)
