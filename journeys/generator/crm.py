"""HubSpot CRM v3 and Intercom list-API pages for the simulated population.

Shapes follow SOURCES.md (sections 3 and 4):
- HubSpot `GET /crm/v3/objects/{contacts|companies|deals}` pages of 100:
  `{"results": [...], "paging": {"next": {"after", "link"}}}`, the last page without
  `paging`; every property value is a string (or null), datetimes ISO with ms and `Z`;
  associations listed once per label. Deals carry `propertiesWithHistory.dealstage` (the
  list API's shape when asked for it): the stages each deal went through, newest first.
- Intercom `GET /contacts` (`type: list`, `data`) and `GET /conversations`
  (`type: conversation.list`, `conversations`) pages of 150 with
  `pages.next.starting_after`, absent on the last page; times are unix seconds.

Records are staged as JSON lines while chunks stream in and cut into pages at the end,
when totals (Intercom's `total_count`, `total_pages`) are known.

Planted identity cases: some CRM emails differ from the app's only by case or by
surrounding white space (NBSP included); some people exist only in the CRM (leads who
never signed up); some Intercom contacts began as leads before signup.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import numpy as np
import orjson

from journeys.generator import catalog as cat
from journeys.generator import simulate as sim

HUBSPOT_PAGE = 100
INTERCOM_PAGE = 150
HUBSPOT_BASE = "https://api.hubapi.com"
INTERCOM_WORKSPACE = "ecahpwf5"
P_HUBSPOT_USER = 0.65
P_INTERCOM_USER = 0.70
P_INTERCOM_LEAD_FIRST = 0.25
LEADS_PER_USER = 0.12
P_LEAD_IN_INTERCOM = 0.40
P_EMAIL_NOISE = 0.06
# the default deal pipeline's open stages in order; a deal closes in closedwon or closedlost
OPEN_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)
CLOSED_STAGES = ("closedwon", "closedlost")
P_STAGE_VISITED = 0.5  # chance that a deal passes through each open stage on its way
SALES_REPS = (41_220_001, 41_220_002, 41_220_003)  # HubSpot user ids that move deals
MS = 1000  # µs in a millisecond: HubSpot's times have millisecond precision


def hubspot_time(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def unix(us: int) -> int:
    return int(us // sim.US)


def _increasing_ms(rng: np.random.Generator, after: int, until: int, n: int) -> list[int]:
    """`n` strictly increasing whole milliseconds in (`after`, `until`]; 1 ms apart after
    `after` when the window is shorter than `n` ms."""
    if n == 0:
        return []
    room = until - after
    if room < n:
        return [after + 1 + i for i in range(n)]
    draws = np.sort(rng.integers(1, room - n + 2, n))  # in [1, room - n + 1]
    return [after + int(d) + i for i, d in enumerate(draws)]


def stage_changes(
    rng: np.random.Generator, final: str, created: int, close: int | None, horizon: int
) -> list[tuple[str, int]]:
    """A deal's stage changes as (stage, µs on a whole millisecond), oldest first.

    The deal enters `appointmentscheduled` at `created`, passes through some later open
    stages in pipeline order, and ends in `final` (its current stage): at `close` for a
    closed deal, by `horizon` for an open one. Times strictly increase.
    """
    closed = final in CLOSED_STAGES
    last_open = len(OPEN_STAGES) if closed else OPEN_STAGES.index(final)
    between = [s for s in OPEN_STAGES[1:last_open] if rng.random() < P_STAGE_VISITED]
    start = created // MS
    if closed:
        times = [start, *_increasing_ms(rng, start, close // MS - 1, len(between))]
        times.append(max(close // MS, times[-1] + 1))
        stages = [OPEN_STAGES[0], *between, final]
    else:
        later = [*between, final] if last_open > 0 else []
        times = [start, *_increasing_ms(rng, start, horizon // MS, len(later))]
        stages = [OPEN_STAGES[0], *later]
    return [(stage, ms * MS) for stage, ms in zip(stages, times, strict=True)]


def stage_history(changes: list[tuple[str, int]], owner: int) -> list[dict]:
    """`propertiesWithHistory.dealstage` for these changes, made by `owner` in HubSpot's
    UI: `ValueWithTimestamp` entries, newest first."""
    return [
        {
            "value": stage,
            "timestamp": hubspot_time(at),
            "sourceType": "CRM_UI",
            "sourceId": f"userId:{owner}",
            "updatedByUserId": owner,
        }
        for stage, at in reversed(changes)
    ]


def noisy_email(email: str, kind: int) -> str:
    """The same address as another system typed it: case, spaces or an NBSP around it."""
    return (email.title(), f" {email} ", f"\u00a0{email}", email.upper())[kind % 4]


class _Staged:
    """JSON lines on disk, paginated at the end."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.handle = open(path, "wb")  # noqa: SIM115
        self.count = 0

    def add(self, record: dict) -> None:
        self.handle.write(orjson.dumps(record) + b"\n")
        self.count += 1

    def records(self):
        self.handle.close()
        with open(self.path, "rb") as handle:
            for line in handle:
                yield orjson.loads(line)
        self.path.unlink()


class CrmWriter:
    def __init__(self, out_dir: Path, plan: sim.Plan):
        self.out = out_dir
        self.plan = plan
        stage = out_dir / ".staging"
        self.stage = stage
        self.hs = {
            k: _Staged(stage / f"hubspot_{k}.jsonl") for k in ("contacts", "companies", "deals")
        }
        self.ic = {k: _Staged(stage / f"intercom_{k}.jsonl") for k in ("contacts", "conversations")}
        self.next_id = {
            "contact": 101,
            "company": 9_000_001,
            "deal": 20_000_001,
            "conversation": 100_000_001,
        }
        self.crm_only_leads = 0
        self.deal_stage_changes = 0
        self.conversation_times: list[int] = []

    def _id(self, kind: str) -> str:
        value = self.next_id[kind]
        self.next_id[kind] += 1
        return str(value)

    # -- per chunk ---------------------------------------------------------------
    def write(
        self, chunk: sim.Chunk, chunk_no: int, data_end_us: int, last_seen_us: np.ndarray
    ) -> None:
        rng = np.random.default_rng([self.plan.seed, 2, chunk_no])
        n = chunk.n_users
        end = self.plan.end_us
        in_hubspot = rng.random(n) < P_HUBSPOT_USER
        noise = rng.random(n) < P_EMAIL_NOISE
        noise_kind = rng.integers(0, 4, n)
        early_contact = rng.random(n) < 0.3

        # companies that have at least one contact in HubSpot
        company_ids: dict[int, str] = {}
        company_created: dict[int, int] = {}
        contact_of_user: dict[int, str] = {}
        contact_created: dict[int, int] = {}
        for u in np.flatnonzero(in_hubspot):
            created = (
                chunk.first_visit_us[u]
                if early_contact[u]
                else chunk.signup_us[u] + int(rng.uniform(1, 30) * sim.MINUTE)
            )
            created = int(min(created, end - sim.SECOND))
            c = int(chunk.company[u])
            if c not in company_ids:
                company_ids[c] = self._id("company")
                company_created[c] = created
            company_created[c] = min(company_created[c], created)
            contact_of_user[u] = self._id("contact")
            contact_created[u] = created

        # deals: won for converting companies, some open or lost otherwise
        deals_by_company: dict[int, list[dict]] = {}
        for u in np.flatnonzero(in_hubspot):
            c = int(chunk.company[u])
            if any(d["won"] for d in deals_by_company.get(c, [])):
                continue
            converted = chunk.converted_us[u] < sim.NEVER
            trial_end = chunk.signup_us[u] + sim.TRIAL_DAYS * sim.DAY
            if converted:
                close = int(chunk.converted_us[u])
                deal = {
                    "won": True,
                    "stage": "closedwon",
                    "close": close,
                    "created": max(contact_created[u], close - int(rng.uniform(0, 3) * sim.DAY)),
                }
            elif trial_end > data_end_us and rng.random() < 0.2:
                deal = {
                    "won": False,
                    "close": None,
                    "created": contact_created[u],
                    "stage": str(
                        rng.choice(
                            ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled"]
                        )
                    ),
                }
            elif trial_end <= data_end_us and rng.random() < 0.15:
                deal = {
                    "won": False,
                    "stage": "closedlost",
                    "created": contact_created[u],
                    "close": int(min(trial_end, end - sim.SECOND)),
                }
            else:
                continue
            deal["contact"] = contact_of_user[u]
            deal["user"] = u
            deals_by_company.setdefault(c, []).append(deal)

        for c, company_id in company_ids.items():
            domain = chunk.company_domain[c]
            stage = "customer" if any(d["won"] for d in deals_by_company.get(c, [])) else "lead"
            self.hs["companies"].add(
                self._hubspot_object(
                    company_id,
                    {
                        "createdate": hubspot_time(company_created[c]),
                        "domain": domain,
                        "hs_lastmodifieddate": hubspot_time(company_created[c]),
                        "hs_object_id": company_id,
                        "industry": cat.INDUSTRIES[(c + chunk_no) % len(cat.INDUSTRIES)],
                        "lifecyclestage": stage,
                        "name": domain.split("-")[0].title(),
                        "numberofemployees": str(int(rng.integers(5, 500))),
                    },
                    company_created[c],
                    company_created[c],
                )
            )

        for u, contact_id in contact_of_user.items():
            c = int(chunk.company[u])
            deals = deals_by_company.get(c, [])
            won = chunk.converted_us[u] < sim.NEVER
            open_deal = any(d["stage"] not in ("closedwon", "closedlost") for d in deals)
            stage = (
                "customer"
                if won
                else "opportunity"
                if open_deal
                else ("salesqualifiedlead", "marketingqualifiedlead", "lead")[u % 3]
            )
            modified = int(max(contact_created[u], chunk.converted_us[u] if won else 0))
            email = chunk.email[u]
            first, last = email.split("@")[0].split(".")
            self.hs["contacts"].add(
                self._hubspot_object(
                    contact_id,
                    {
                        "createdate": hubspot_time(contact_created[u]),
                        "email": noisy_email(email, int(noise_kind[u])) if noise[u] else email,
                        "firstname": first.title(),
                        "hs_analytics_source": cat.CHANNELS[chunk.channel[u]][4],
                        "hs_lead_status": "CONNECTED"
                        if won
                        else ("OPEN", "IN_PROGRESS", "NEW")[u % 3],
                        "hs_object_id": contact_id,
                        "lastmodifieddate": hubspot_time(modified),
                        "lastname": last.rstrip("0123456789").title(),
                        "lifecyclestage": stage,
                        "associatedcompanyid": company_ids[c],
                    },
                    contact_created[u],
                    modified,
                    {"companies": _assoc([company_ids[c]], "contact_to_company")},
                )
            )

        # stage histories draw from their own stream, so the other records do not move
        stage_rng = np.random.default_rng([self.plan.seed, 2, chunk_no, 1])
        for c, deals in deals_by_company.items():
            for deal in deals:
                deal_id = self._id("deal")
                u = deal["user"]
                seats = 1 + int(rng.poisson(3))
                price = 99 if chunk.plan[u] == 2 else 49
                changes = stage_changes(
                    stage_rng,
                    deal["stage"],
                    deal["created"],
                    deal["close"],
                    min(deal["created"] + 30 * sim.DAY, end - sim.SECOND),
                )
                owner = SALES_REPS[int(stage_rng.integers(len(SALES_REPS)))]
                self.deal_stage_changes += len(changes)
                modified = max(deal["created"], deal["close"] or 0, changes[-1][1])
                self.hs["deals"].add(
                    self._hubspot_object(
                        deal_id,
                        {
                            "amount": f"{seats * price * 12:.2f}",
                            "closedate": hubspot_time(
                                deal["close"] if deal["close"] else deal["created"] + 30 * sim.DAY
                            ),
                            "createdate": hubspot_time(deal["created"]),
                            "dealname": f"{chunk.company_domain[c]} - {seats} seats",
                            "dealstage": deal["stage"],
                            "hs_is_closed_won": "true" if deal["won"] else "false",
                            "hs_lastmodifieddate": hubspot_time(modified),
                            "hs_object_id": deal_id,
                            "pipeline": "default",
                        },
                        deal["created"],
                        modified,
                        {
                            "companies": _assoc([company_ids[c]], "deal_to_company"),
                            "contacts": {
                                "results": [{"id": deal["contact"], "type": "deal_to_contact"}]
                            },
                        },
                        {"dealstage": stage_history(changes, owner)},
                    )
                )

        # CRM-only leads: a HubSpot contact (some also an Intercom lead), no product use
        leads = round(n * LEADS_PER_USER)
        self.crm_only_leads += leads
        lead_created = (
            self.plan.start_us
            - 2 * sim.WEEK
            + (rng.random(leads) * (end - self.plan.start_us)).astype(np.int64)
        )
        lead_emails = []
        for j in range(leads):
            first = cat.FIRST_NAMES[int(rng.integers(len(cat.FIRST_NAMES)))]
            last = cat.LAST_NAMES[int(rng.integers(len(cat.LAST_NAMES)))]
            email = f"{first}.{last}.lead{chunk_no}x{j}@prospect-{chunk_no}-{j % 97}.com"
            lead_emails.append(email)
            contact_id = self._id("contact")
            created = int(lead_created[j])
            self.hs["contacts"].add(
                self._hubspot_object(
                    contact_id,
                    {
                        "createdate": hubspot_time(created),
                        "email": email,
                        "firstname": first.title(),
                        "hs_analytics_source": ("OFFLINE", "ORGANIC_SEARCH", "SOCIAL_MEDIA")[j % 3],
                        "hs_lead_status": ("NEW", "ATTEMPTED_TO_CONTACT", "UNQUALIFIED")[j % 3],
                        "hs_object_id": contact_id,
                        "lastmodifieddate": hubspot_time(created),
                        "lastname": last.title(),
                        "lifecyclestage": ("subscriber", "lead")[j % 2],
                    },
                    created,
                    created,
                )
            )

        # Intercom: users (some first seen as leads), and some of the CRM-only leads
        in_intercom = rng.random(n) < P_INTERCOM_USER
        lead_first = rng.random(n) < P_INTERCOM_LEAD_FIRST
        ic_noise = rng.random(n) < P_EMAIL_NOISE / 2
        for u in np.flatnonzero(in_intercom):
            signup = int(chunk.signup_us[u])
            created = (
                int(chunk.first_visit_us[u]) + int(rng.uniform(1, 20) * sim.MINUTE)
                if lead_first[u]
                else signup + int(rng.uniform(5, 120) * sim.SECOND)
            )
            created = min(created, signup)
            if lead_first[u]:
                created = min(created, signup - sim.SECOND)
            seen = int(max(last_seen_us[u], signup))
            email = chunk.email[u]
            contact = self._intercom_contact(
                rng,
                role="user",
                external_id=str(chunk.user_id[u]),
                email=noisy_email(email, 3) if ic_noise[u] else email,
                created=created,
                signed_up=signup,
                seen=seen,
                plan=("trial", "pro", "team")[int(chunk.plan[u])],
            )
            self.ic["contacts"].add(contact)
            self._conversations(
                rng,
                contact,
                created,
                min(seen + sim.DAY, end - sim.SECOND),
                rate=0.35,
                churned=int(chunk.churned_us[u]),
            )
        for j in np.flatnonzero(rng.random(leads) < P_LEAD_IN_INTERCOM):
            created = int(lead_created[j]) + int(rng.uniform(1, 600) * sim.SECOND)
            created = min(created, end - sim.SECOND)
            contact = self._intercom_contact(
                rng,
                role="lead",
                external_id=None,
                email=lead_emails[j].upper() if j % 5 == 0 else lead_emails[j],
                created=created,
                signed_up=None,
                seen=created,
                plan=None,
            )
            self.ic["contacts"].add(contact)
            self._conversations(
                rng, contact, created, end - sim.SECOND, rate=0.5, churned=sim.NEVER
            )

    @staticmethod
    def _hubspot_object(
        object_id: str,
        properties: dict,
        created: int,
        updated: int,
        associations: dict | None = None,
        history: dict | None = None,
    ) -> dict:
        record: dict = {"id": object_id, "properties": properties}
        if history:
            record["propertiesWithHistory"] = history
        record.update(
            createdAt=hubspot_time(created), updatedAt=hubspot_time(updated), archived=False
        )
        if associations:
            record["associations"] = associations
        return record

    @staticmethod
    def _intercom_contact(rng, *, role, external_id, email, created, signed_up, seen, plan) -> dict:
        contact_id = bytes(rng.integers(0, 256, 12, dtype=np.uint8)).hex()
        browser, os_name, _ = cat.DEVICES[int(rng.integers(len(cat.DEVICES)))]
        name = email.strip().split("@")[0].replace(".", " ").title()
        custom = {"plan": plan} if plan else {}
        empty_list = {
            "type": "list",
            "data": [],
            "url": f"/contacts/{contact_id}/tags",
            "total_count": 0,
            "has_more": False,
        }
        return {
            "type": "contact",
            "id": contact_id,
            "workspace_id": INTERCOM_WORKSPACE,
            "external_id": external_id,
            "role": role,
            "email": email,
            "email_domain": email.strip().split("@")[-1].lower(),
            "phone": None,
            "name": name,
            "avatar": None,
            "owner_id": None,
            "social_profiles": {"type": "list", "data": []},
            "has_hard_bounced": False,
            "marked_email_as_spam": False,
            "unsubscribed_from_emails": False,
            "created_at": unix(created),
            "updated_at": unix(max(seen, created)),
            "signed_up_at": unix(signed_up) if signed_up else None,
            "last_seen_at": unix(seen),
            "last_replied_at": None,
            "last_contacted_at": None,
            "last_email_opened_at": None,
            "last_email_clicked_at": None,
            "language_override": None,
            "browser": browser.lower(),
            "browser_version": "120.0",
            "browser_language": "en",
            "os": os_name,
            "location": {
                "type": "location",
                "country": "Germany",
                "region": "Berlin",
                "city": "Berlin",
                "country_code": "DEU",
                "continent_code": "EU",
            },
            "custom_attributes": custom,
            "tags": {**empty_list, "type": "list"},
            "notes": {**empty_list, "url": f"/contacts/{contact_id}/notes"},
            "companies": {**empty_list, "url": f"/contacts/{contact_id}/companies"},
            "utm_campaign": None,
            "utm_content": None,
            "utm_medium": None,
            "utm_source": None,
            "utm_term": None,
            "referrer": None,
        }

    def _conversations(
        self, rng, contact: dict, start: int, stop: int, rate: float, churned: int
    ) -> None:
        stop = min(stop, churned)
        if stop <= start:
            return
        for _ in range(int(rng.poisson(rate))):
            created = start + int(rng.random() * (stop - start))
            reply = int(rng.uniform(2, 240) * sim.MINUTE)
            close = reply + int(rng.uniform(0.1, 48) * sim.HOUR)
            state = str(rng.choice(["closed", "open", "snoozed"], p=[0.85, 0.10, 0.05]))
            updated = created + (close if state == "closed" else reply)
            updated = min(updated, self.plan.end_us - sim.SECOND)
            conversation_id = self._id("conversation")
            self.conversation_times.append(created)
            author = {
                "type": contact["role"],
                "id": contact["id"],
                "name": contact["name"],
                "email": contact["email"],
            }
            self.ic["conversations"].add(
                {
                    "type": "conversation",
                    "id": conversation_id,
                    "title": None,
                    "created_at": unix(created),
                    "updated_at": unix(updated),
                    "waiting_since": None,
                    "snoozed_until": None,
                    "open": state != "closed",
                    "state": state,
                    "read": True,
                    "priority": "not_priority",
                    "admin_assignee_id": 5017691,
                    "team_assignee_id": None,
                    "tags": {"type": "tag.list", "tags": []},
                    "conversation_rating": None,
                    "source": {
                        "type": "conversation",
                        "id": str(int(conversation_id) * 7),
                        "delivered_as": "customer_initiated",
                        "subject": "",
                        "body": "<p>Hi, quick question about my trial.</p>",
                        "author": author,
                        "attachments": [],
                        "url": None,
                        "redacted": False,
                    },
                    "contacts": {
                        "type": "contact.list",
                        "contacts": [
                            {
                                "type": "contact",
                                "id": contact["id"],
                                "external_id": contact["external_id"],
                            }
                        ],
                    },
                    "teammates": {"type": "admin.list", "teammates": []},
                    "custom_attributes": {},
                    "first_contact_reply": {
                        "created_at": unix(created),
                        "type": "conversation",
                        "url": None,
                    },
                    "sla_applied": None,
                    "linked_objects": {
                        "type": "list",
                        "data": [],
                        "total_count": 0,
                        "has_more": False,
                    },
                    "ai_agent_participated": False,
                    "statistics": {
                        "type": "conversation_statistics",
                        "time_to_assignment": 0,
                        "time_to_admin_reply": reply // sim.US,
                        "time_to_first_close": close // sim.US if state == "closed" else None,
                        "time_to_last_close": close // sim.US if state == "closed" else None,
                        "median_time_to_reply": reply // sim.US,
                        "first_contact_reply_at": unix(created),
                        "first_assignment_at": unix(created),
                        "first_admin_reply_at": unix(created + reply),
                        "first_close_at": unix(created + close) if state == "closed" else None,
                        "last_assignment_at": unix(created),
                        "last_assignment_admin_reply_at": unix(created + reply),
                        "last_contact_reply_at": unix(created),
                        "last_admin_reply_at": unix(created + reply),
                        "last_close_at": unix(created + close) if state == "closed" else None,
                        "last_closed_by_id": 5017691 if state == "closed" else None,
                        "count_reopens": 0,
                        "count_assignments": 1,
                        "count_conversation_parts": 3,
                    },
                }
            )

    # -- pages ---------------------------------------------------------------------
    def close(self) -> dict[str, int]:
        counts = {}
        for kind, staged in self.hs.items():
            counts[f"hubspot_{kind}"] = staged.count
            self._hubspot_pages(kind, staged)
        counts["hubspot_deal_stage_changes"] = self.deal_stage_changes
        for kind, staged in self.ic.items():
            counts[f"intercom_{kind}"] = staged.count
            self._intercom_pages(kind, staged)
        self.stage.rmdir()
        return counts

    def _hubspot_pages(self, kind: str, staged: _Staged) -> None:
        folder = self.out / "hubspot" / kind
        folder.mkdir(parents=True, exist_ok=True)
        page: list[dict] = []
        number = 0

        def flush(next_record: dict | None) -> None:
            nonlocal number, page
            number += 1
            body: dict = {"results": page}
            if next_record is not None:
                after = base64.b64encode(f"{next_record['id']}\n".encode()).decode()
                body["paging"] = {
                    "next": {
                        "after": after,
                        "link": f"{HUBSPOT_BASE}/crm/v3/objects/{kind}?after={after}",
                    }
                }
            (folder / f"page-{number:05d}.json").write_bytes(orjson.dumps(body))
            page = []

        for record in staged.records():
            if len(page) == HUBSPOT_PAGE:
                flush(record)
            page.append(record)
        flush(None)

    def _intercom_pages(self, kind: str, staged: _Staged) -> None:
        folder = self.out / "intercom" / kind
        folder.mkdir(parents=True, exist_ok=True)
        total = staged.count
        pages = max(1, -(-total // INTERCOM_PAGE))
        key = "data" if kind == "contacts" else "conversations"
        list_type = "list" if kind == "contacts" else "conversation.list"
        page: list[dict] = []
        number = 0

        def flush() -> None:
            nonlocal number, page
            number += 1
            info: dict = {
                "type": "pages",
                "page": number,
                "per_page": INTERCOM_PAGE,
                "total_pages": pages,
            }
            if number < pages:
                last = page[-1]
                cursor = orjson.dumps([last["created_at"] * 1000, last["id"]])
                info["next"] = {
                    "page": number + 1,
                    "starting_after": base64.b64encode(cursor).decode(),
                }
            body = {"type": list_type, key: page, "total_count": total, "pages": info}
            (folder / f"page-{number:05d}.json").write_bytes(orjson.dumps(body))
            page = []

        for record in staged.records():
            page.append(record)
            if len(page) == INTERCOM_PAGE:
                flush()
        if page or number == 0:
            flush()


def _assoc(ids: list[str], label: str) -> dict:
    results = []
    for object_id in ids:
        results.append({"id": object_id, "type": label})
        results.append({"id": object_id, "type": f"{label}_unlabeled"})
    return {"results": results}
