"""The tracking plan: the event taxonomy as data (seeds/tracking_plan.csv and
seeds/tracking_plan_properties.csv), its naming rules, and checks of events against it.

dbt reads the same two files as seeds, so the warehouse's coverage mart, `journeys
lint-plan` and server-side capture (`journeys.track`) all enforce one plan.

Naming rules (every event in the plan, and every name seen in data):
- snake_case: lower-case letters, digits and single underscores, starting with a letter;
- at most 40 characters;
- object_action in the past tense: the name ends with an approved verb
  (`workspace_created`), and one-word verbs need an object before them; phrasal verbs
  (`signed_up`, `logged_in`) may stand alone;
- no two names differ only by case or separators (`signedUp`, `Signed_Up`, `signed-up`
  all read as `signedup`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journeys.paths import PROJECT_DIR

SEEDS_DIR = PROJECT_DIR / "seeds"
PLAN_FILE = "tracking_plan.csv"
PROPERTIES_FILE = "tracking_plan_properties.csv"

CATEGORIES = ("acquisition", "activation", "engagement", "monetization", "retention")
SIDES = ("server", "client", "both")
STATUSES = ("proposed", "active", "deprecated", "removed")
PROPERTY_TYPES = ("string", "number", "boolean", "object", "array")
MAX_NAME_LENGTH = 40

# Past-tense verbs an event name may end with. Phrasal verbs may be a whole name.
APPROVED_VERBS = frozenset({
    "accepted", "activated", "added", "approved", "archived", "billed", "canceled",
    "cancelled", "changed", "charged", "clicked", "closed", "completed", "connected",
    "converted", "copied", "created", "declined", "deleted", "deactivated", "disabled",
    "disconnected", "dismissed", "downgraded", "downloaded", "edited", "enabled", "ended",
    "expired", "exported", "extended", "failed", "finished", "generated", "granted",
    "imported", "invited", "joined", "launched", "left", "made", "merged", "moved", "opened",
    "paid", "published", "purchased", "reached", "received", "refunded", "rejected", "removed",
    "renamed", "renewed", "replied", "requested", "reset", "restored", "revoked", "saved",
    "scheduled", "searched", "selected", "sent", "shared", "shown", "started", "submitted",
    "subscribed", "unsubscribed", "updated", "upgraded", "uploaded", "used", "verified",
    "viewed",
})
PHRASAL_VERBS = frozenset({
    "signed_up", "signed_in", "signed_out", "logged_in", "logged_out", "checked_out",
    "opted_in", "opted_out", "set_up", "followed_up",
})
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


class PlanError(ValueError):
    """The plan files are unreadable or break their own schema (file and line named)."""


@dataclass(frozen=True)
class PlannedProperty:
    name: str
    type: str
    is_required: bool
    description: str


@dataclass(frozen=True)
class PlannedEvent:
    name: str
    category: str
    side: str
    owner: str
    status: str
    description: str
    properties: Mapping[str, PlannedProperty] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One thing lint found: `error` fails the lint, `warning` is reported."""

    severity: str  # error | warning
    subject: str  # the event (or event.property) it is about
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.subject}: {self.message}"


@dataclass(frozen=True)
class TrackingPlan:
    events: Mapping[str, PlannedEvent]

    def similar(self, name: str) -> str | None:
        """The planned event a name collides with when case and separators are ignored."""
        key = canonical(name)
        return next((e for e in self.events if canonical(e) == key and e != name), None)


def canonical(name: str) -> str:
    """A name with case and separators dropped: names equal here are one event to a reader."""
    return re.sub(r"[\s_\-.:/]+", "", name).lower()


def _rows(path: Path, columns: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise PlanError(f"{path}: the tracking plan file is missing")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise PlanError(f"{path}: missing column(s) {', '.join(missing)}; "
                            f"expected {', '.join(columns)}")
        for line, row in enumerate(reader, start=2):
            yield line, {c: (row.get(c) or "").strip() for c in columns}


def _choice(path: Path, line: int, column: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise PlanError(f"{path}:{line}: {column} {value!r} is not one of {', '.join(allowed)}")
    return value


def load_plan(seeds_dir: Path | str = SEEDS_DIR) -> TrackingPlan:
    """The plan in `seeds_dir`; raises PlanError naming the file and line of a bad row."""
    seeds_dir = Path(seeds_dir)
    events: dict[str, dict[str, Any]] = {}
    plan_path = seeds_dir / PLAN_FILE
    for line, row in _rows(plan_path, ("event_name", "category", "side", "owner", "status",
                                       "description")):
        name = row["event_name"]
        if not name:
            raise PlanError(f"{plan_path}:{line}: event_name is empty")
        if name in events:
            raise PlanError(f"{plan_path}:{line}: {name!r} is listed twice")
        events[name] = {
            "name": name,
            "category": _choice(plan_path, line, "category", row["category"], CATEGORIES),
            "side": _choice(plan_path, line, "side", row["side"], SIDES),
            "owner": row["owner"],
            "status": _choice(plan_path, line, "status", row["status"], STATUSES),
            "description": row["description"],
            "properties": {},
        }
    props_path = seeds_dir / PROPERTIES_FILE
    for line, row in _rows(props_path, ("event_name", "property_name", "property_type",
                                        "is_required", "description")):
        event = events.get(row["event_name"])
        if event is None:
            raise PlanError(f"{props_path}:{line}: event {row['event_name']!r} is not in "
                            f"{PLAN_FILE}")
        name = row["property_name"]
        if not name or name in event["properties"]:
            raise PlanError(f"{props_path}:{line}: property {name!r} is empty or listed twice")
        required = _choice(props_path, line, "is_required", row["is_required"].lower(),
                           ("true", "false"))
        event["properties"][name] = PlannedProperty(
            name=name,
            type=_choice(props_path, line, "property_type", row["property_type"],
                         PROPERTY_TYPES),
            is_required=required == "true",
            description=row["description"],
        )
    return TrackingPlan({name: PlannedEvent(**event) for name, event in events.items()})


def name_problems(name: str) -> list[str]:
    """What is wrong with an event name under the naming rules (empty: nothing)."""
    problems = []
    if not name[:1].isalpha():
        problems.append("must start with a letter")
    if not SNAKE_CASE.fullmatch(name):
        problems.append("must be snake_case (lower-case letters, digits, single underscores)")
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})")
    lowered = name.lower()
    if lowered in PHRASAL_VERBS or any(lowered.endswith("_" + v) for v in PHRASAL_VERBS):
        return problems
    object_part, _, verb = lowered.rpartition("_")
    if verb not in APPROVED_VERBS:
        problems.append(f"must end with an approved past-tense verb (object_action), not "
                        f"{verb!r}")
    elif not object_part:
        problems.append("needs an object before the verb (object_action)")
    return problems


def lint(plan: TrackingPlan) -> list[Finding]:
    """Naming-rule errors in the plan, collisions between its names, and property names
    that are not snake_case."""
    findings = [Finding("error", name, problem)
                for name in plan.events for problem in name_problems(name)]
    seen: dict[str, str] = {}
    for name in plan.events:
        other = seen.setdefault(canonical(name), name)
        if other != name:
            findings.append(Finding("error", name, f"differs from {other!r} only by case or "
                                                   "separators"))
    for event in plan.events.values():
        for prop in event.properties:
            if not SNAKE_CASE.fullmatch(prop):
                findings.append(Finding("error", f"{event.name}.{prop}",
                                        "property names must be snake_case"))
    return findings


def json_type(value: Any) -> str:
    """The JSON type of a Python value, as the plan names types."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def check_event(plan: TrackingPlan, event: str, properties: Mapping[str, Any] | None
                ) -> list[Finding]:
    """How an event about to be sent breaks the plan: unknown, removed or proposed
    (errors), deprecated (a warning), a property of the wrong type or a required one
    missing (errors). PostHog's own `$` events are outside the plan."""
    if event.startswith("$"):
        return []
    planned = plan.events.get(event)
    if planned is None:
        hint = plan.similar(event)
        return [Finding("error", event, "is not in the tracking plan"
                        + (f" (did you mean {hint!r}?)" if hint else ""))]
    findings = []
    if planned.status in ("removed", "proposed"):
        findings.append(Finding("error", event, f"is {planned.status} in the tracking plan"))
    elif planned.status == "deprecated":
        findings.append(Finding("warning", event, f"is deprecated: {planned.description}"))
    properties = properties or {}
    for prop in planned.properties.values():
        if prop.name not in properties or properties[prop.name] is None:
            if prop.is_required:
                findings.append(Finding("error", f"{event}.{prop.name}",
                                        "is required by the tracking plan"))
            continue
        actual = json_type(properties[prop.name])
        if actual != prop.type:
            findings.append(Finding("error", f"{event}.{prop.name}",
                                    f"should be a {prop.type}, got a {actual}"))
    return findings


# coverage findings (marts.fct_tracking_plan_coverage) -> lint severity
DATA_SEVERITY = {
    "unknown_event": "error",
    "removed_event_arriving": "error",
    "proposed_event_arriving": "warning",
    "deprecated_event_arriving": "warning",
    "mistyped_properties": "warning",
    "missing_required_properties": "warning",
}


def data_findings(warehouse_db: Path) -> list[Finding]:
    """What the warehouse's last build saw against the plan (fct_tracking_plan_coverage):
    unknown or removed events arriving are errors; deprecated or proposed events arriving
    and property problems are warnings. Empty when the warehouse has no coverage mart."""
    import duckdb

    if not Path(warehouse_db).is_file():
        return []
    with duckdb.connect(str(warehouse_db), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'fct_tracking_plan_coverage'"
        ).fetchone()[0]
        if not exists:
            return []
        rows = con.execute(
            "select event_name, finding, similar_planned_event, events, events_last_7d, "
            "mistyped_properties, missing_required_properties, as_of_date "
            "from marts.fct_tracking_plan_coverage where finding not in ('ok', 'never_seen') "
            "order by events desc, event_name"
        ).fetchall()
    findings = []
    for name, finding, similar, events, recent, mistyped, missing, as_of in rows:
        volume = f"{events:,} events, {recent:,} in the 7 days to {as_of}"
        if finding == "unknown_event":
            detail = f"arrived but is not in the tracking plan ({volume})"
            if similar:
                detail += f"; looks like {similar!r}"
            problems = name_problems(name)
            if problems:
                detail += "; its name " + "; ".join(problems)
        elif finding == "mistyped_properties":
            detail = f"{mistyped:,} properties arrived with another type than planned ({volume})"
        elif finding == "missing_required_properties":
            detail = f"{missing:,} required properties were missing ({volume})"
        else:
            detail = f"{finding.replace('_', ' ')} ({volume})"
        findings.append(Finding(DATA_SEVERITY[finding], name, detail))
    return findings
