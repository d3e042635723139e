"""The demo product's event catalogue: names, categories, which side sends them, and the
property values each one carries.

`side` says who sends the event: `client` (posthog-js in the browser, lost when an ad
blocker is on), `server` (the app's backend, written to the app's `events` table), or
`both` (the same action captured on each side: the server row is the truth, the client
row is what PostHog sees).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventType:
    name: str
    category: str
    side: str  # client | server | both
    # property name -> candidate values (JSON scalars written verbatim as text)
    props: dict[str, tuple[str, ...]] = field(default_factory=dict)


# PostHog's own events first, then the product's tracking plan.
EVENT_TYPES: tuple[EventType, ...] = (
    EventType("$pageview", "engagement", "client"),
    EventType("$autocapture", "engagement", "client"),
    EventType("$identify", "acquisition", "client"),
    EventType("signed_up", "acquisition", "both", {"signup_method": ('"email"', '"google"')}),
    EventType("onboarding_started", "activation", "client"),
    EventType(
        "workspace_created",
        "activation",
        "both",
        {"template": ('"blank"', '"sales"', '"marketing"')},
    ),
    EventType(
        "first_item_created",
        "activation",
        "both",
        {"item_type": ('"project"', '"document"')},
    ),
    EventType(
        "first_integration_connected",
        "activation",
        "both",
        {"integration": ('"slack"', '"github"', '"salesforce"', '"zapier"')},
    ),
    EventType("onboarding_completed", "activation", "both"),
    EventType(
        "feature_used",
        "engagement",
        "client",
        {"feature": ('"dashboards"', '"filters"', '"search"', '"comments"', '"automations"')},
    ),
    EventType(
        "file_uploaded", "engagement", "both", {"file_type": ('"csv"', '"pdf"', '"xlsx"', '"png"')}
    ),
    EventType(
        "team_member_invited",
        "engagement",
        "both",
        {"invitee_role": ('"editor"', '"viewer"', '"admin"')},
    ),
    EventType(
        "report_generated",
        "engagement",
        "both",
        {"report_type": ('"weekly"', '"funnel"', '"custom"')},
    ),
    EventType(
        "api_call_made",
        "engagement",
        "server",
        {"endpoint": ('"/v1/items"', '"/v1/reports"', '"/v1/search"')},
    ),
    EventType("trial_extended", "monetization", "server", {"extension_days": ("7",)}),
    EventType(
        "upgrade_page_viewed",
        "monetization",
        "client",
        {"entry_point": ('"banner"', '"settings"', '"limit_hit"')},
    ),
    EventType("plan_upgraded", "monetization", "both", {"plan": ('"pro"', '"team"')}),
    EventType("session_started", "engagement", "client"),
    EventType("export_downloaded", "engagement", "both", {"format": ('"csv"', '"pdf"')}),
    EventType(
        "cancellation_started",
        "retention",
        "both",
        {"reason": ('"too_expensive"', '"missing_feature"', '"not_using"')},
    ),
    EventType("account_deleted", "retention", "server"),
)

CODE: dict[str, int] = {e.name: i for i, e in enumerate(EVENT_TYPES)}
NAMES: tuple[str, ...] = tuple(e.name for e in EVENT_TYPES)
SENT_BY_CLIENT: tuple[bool, ...] = tuple(e.side in ("client", "both") for e in EVENT_TYPES)
SENT_BY_SERVER: tuple[bool, ...] = tuple(e.side in ("server", "both") for e in EVENT_TYPES)

# The planted activation funnel (SEMANTICS.md's default `activation` funnel).
ACTIVATION_STEPS: tuple[tuple[str, dict[str, str]], ...] = (
    ("signed_up", {}),
    ("workspace_created", {}),
    ("first_item_created", {"item_type": "project"}),
    ("onboarding_completed", {}),
)

# Acquisition channels: (utm_source, utm_medium, utm_campaign, referring_domain, hubspot source)
CHANNELS: tuple[tuple[str | None, str | None, str | None, str, str], ...] = (
    ("google", "cpc", "brand_search", "www.google.com", "PAID_SEARCH"),
    (None, None, None, "www.google.com", "ORGANIC_SEARCH"),
    ("linkedin", "paid_social", "b2b_trial_q3", "www.linkedin.com", "PAID_SOCIAL"),
    ("newsletter", "email", "product_digest", "mail.google.com", "EMAIL_MARKETING"),
    (None, None, None, "www.g2.com", "REFERRALS"),
    (None, None, None, "$direct", "DIRECT_TRAFFIC"),
)
CHANNEL_WEIGHTS: tuple[float, ...] = (0.25, 0.22, 0.15, 0.10, 0.10, 0.18)

# Pages of the marketing site and the app (path, host kind)
MARKETING_PAGES: tuple[str, ...] = (
    "/",
    "/pricing",
    "/features",
    "/blog/trial-playbook",
    "/customers",
)
APP_PAGES: tuple[str, ...] = (
    "/home",
    "/projects",
    "/reports",
    "/settings",
    "/integrations",
    "/team",
    "/billing",
)
MARKETING_HOST = "www.journeys-demo.io"
APP_HOST = "app.journeys-demo.io"

ELEMENT_CHAINS: tuple[str, ...] = (
    'button.btn.btn-primary:attr__class="btn btn-primary"nth-child="1"nth-of-type="1"text="Save"',
    'a.nav-link:attr__href="/reports"href="/reports"nth-child="2"nth-of-type="2"text="Reports"',
    'button.btn:attr__class="btn"nth-child="3"nth-of-type="1"text="Filter"',
    'input:attr__type="search"nth-child="1"nth-of-type="1"',
)

# (browser, os, device_type)
DEVICES: tuple[tuple[str, str, str], ...] = (
    ("Chrome", "Mac OS X", "Desktop"),
    ("Chrome", "Windows", "Desktop"),
    ("Firefox", "Windows", "Desktop"),
    ("Safari", "Mac OS X", "Desktop"),
    ("Edge", "Windows", "Desktop"),
    ("Mobile Safari", "iOS", "Mobile"),
)

FIRST_NAMES: tuple[str, ...] = (
    "ada",
    "alan",
    "grace",
    "linus",
    "margaret",
    "ken",
    "barbara",
    "dennis",
    "frances",
    "john",
    "katherine",
    "edsger",
    "radia",
    "tim",
    "hedy",
    "donald",
    "shafi",
    "guido",
    "sophie",
    "james",
)
LAST_NAMES: tuple[str, ...] = (
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "hamilton",
    "thompson",
    "liskov",
    "ritchie",
    "allen",
    "backus",
    "johnson",
    "dijkstra",
    "perlman",
    "berners",
    "lamarr",
    "knuth",
    "goldwasser",
    "rossum",
    "wilson",
    "gosling",
)
COMPANY_WORDS: tuple[str, ...] = (
    "acme",
    "bright",
    "cobalt",
    "delta",
    "ember",
    "fable",
    "granite",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lumen",
    "meridian",
    "nimbus",
    "orbit",
    "pioneer",
    "quartz",
    "river",
    "summit",
    "tidal",
)
INDUSTRIES: tuple[str, ...] = (
    "COMPUTER_SOFTWARE",
    "FINANCIAL_SERVICES",
    "MARKETING_AND_ADVERTISING",
    "RETAIL",
    "HOSPITAL_HEALTH_CARE",
    "EDUCATION_MANAGEMENT",
)
