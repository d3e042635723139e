"""A plain-Python reading of SEMANTICS.md's identity rules (Identity: nodes, edges,
persons, split by time, person_id), written from the text alone and sharing no code with
the dbt models, so the models' answers can be checked against a second derivation.

Input is the clean rows of each source (what staging keeps: one row per id), as dicts:

- PostHog events: uuid, event, distinct_id, person_id, ts (aware datetime), properties
- PostHog persons API: distinct_id, person_id
- app users: id, email; app events: id, user_id, created_at
- HubSpot contacts: id, email; Intercom contacts: id, external_id, email

`resolve(...)` returns every node's (person_id, resolution, anchor_cost) and every
PostHog and app event's person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
from collections import defaultdict
from dataclasses import dataclass, field

PERSON_ID_COST = 1_000_000  # how the models write (person_id links, other links) as one number

ILLEGAL_WORDS = {
    "anonymous", "guest", "distinctid", "distinct_id", "id", "not_authenticated", "email",
    "undefined", "true", "false",
}
ILLEGAL_EXACT = {"[object Object]", "NaN", "None", "none", "null", "0"}
LINK_EVENTS = ("$identify", "$create_alias", "$merge_dangerously")


def is_blank(value: str | None) -> bool:
    """Null, empty or only Unicode white space (str.strip() knows NBSP and the rest)."""
    return value is None or value.strip() == ""


def is_illegal_distinct_id(value: str | None) -> bool:
    """PostHog's illegal distinct_ids: blank, the words in any case, the exact values,
    each also wrapped in a pair of double or single quotes."""
    if is_blank(value):
        return True
    unquoted = value
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        unquoted = value[1:-1]
    return unquoted.lower() in ILLEGAL_WORDS or unquoted in ILLEGAL_EXACT


def normalise_email(value: str | None) -> str | None:
    """The current email, Unicode white space trimmed at both ends, lower-cased."""
    if value is None:
        return None
    return value.strip().lower() or None


def byte_order(key: str) -> bytes:
    return key.encode("utf-8")


def anon_person(smallest_node: str) -> str:
    return "anon-" + hashlib.md5(smallest_node.encode("utf-8")).hexdigest()[:16]


def as_number(cost: tuple[int, int]) -> int:
    return cost[0] * PERSON_ID_COST + cost[1]


@dataclass
class Sources:
    posthog_events: list[dict] = field(default_factory=list)
    person_distinct_ids: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    app_events: list[dict] = field(default_factory=list)
    hubspot_contacts: list[dict] = field(default_factory=list)
    intercom_contacts: list[dict] = field(default_factory=list)


@dataclass
class Resolved:
    persons: dict[str, str]  # node key -> person_id
    resolutions: dict[str, str]  # node key -> app_user | nearest_app_user | contested | ...
    anchor_costs: dict[str, int | None]
    event_persons: dict[str, str]  # PostHog uuid / `app-<id>` -> person_id


def _links(src: Sources) -> list[tuple[str, str, bool]]:
    """(node, node, is_person_id_link) for every stated link between two real nodes."""
    stated: list[tuple[str, str | None, str, str | None, bool]] = []
    for e in src.posthog_events:
        props = e.get("properties") or {}
        if e["event"] == "$identify":
            stated.append(("distinct_id", props.get("$anon_distinct_id"),
                           "distinct_id", e["distinct_id"], False))
        if e["event"] in ("$create_alias", "$merge_dangerously"):
            stated.append(("distinct_id", props.get("alias"), "distinct_id",
                           e["distinct_id"], False))
        stated.append(("person_id", e.get("person_id"), "distinct_id", e["distinct_id"], True))
    for row in src.person_distinct_ids:
        stated.append(("person_id", row["person_id"], "distinct_id", row["distinct_id"], True))
    for u in src.users:
        stated.append(("distinct_id", str(u["id"]), "email", normalise_email(u["email"]), False))
    for c in src.hubspot_contacts:
        stated.append(("hubspot", c["id"], "email", normalise_email(c.get("email")), False))
    for c in src.intercom_contacts:
        stated.append(("intercom", c["id"], "distinct_id", c.get("external_id"), False))
        stated.append(("intercom", c["id"], "email", normalise_email(c.get("email")), False))

    def real(kind: str, value: str | None) -> bool:
        if kind == "distinct_id":
            return not is_illegal_distinct_id(value)
        return not is_blank(value)

    links = set()
    for kind_a, value_a, kind_b, value_b, weak in stated:
        if real(kind_a, value_a) and real(kind_b, value_b):
            a, b = f"{kind_a}:{value_a}", f"{kind_b}:{value_b}"
            if a != b:
                links.add((a, b, weak))
    return sorted(links)


def _nodes(src: Sources, links: list[tuple[str, str, bool]]) -> set[str]:
    """Every id an event was sent under, every CRM contact, both ends of every link."""
    nodes = set()
    sent_under = [e["distinct_id"] for e in src.posthog_events]
    sent_under += [str(e["user_id"]) for e in src.app_events]
    sent_under += [str(u["id"]) for u in src.users]
    nodes |= {f"distinct_id:{v}" for v in sent_under if v}
    nodes |= {f"hubspot:{c['id']}" for c in src.hubspot_contacts}
    nodes |= {f"intercom:{c['id']}" for c in src.intercom_contacts}
    for a, b, _ in links:
        nodes |= {a, b}
    return nodes


def _distances(anchor: str, graph: dict[str, list[tuple[str, tuple[int, int]]]],
               anchors: set[str]) -> dict[str, tuple[int, int]]:
    """Least (person_id links, other links) from one anchor to every node it reaches over
    paths that never enter another anchor (Dijkstra; costs compare as tuples)."""
    best = {anchor: (0, 0)}
    queue = [((0, 0), anchor)]
    while queue:
        cost, node = heapq.heappop(queue)
        if cost > best[node]:
            continue
        for neighbour, step in graph[node]:
            if neighbour in anchors:
                continue
            new = (cost[0] + step[0], cost[1] + step[1])
            if neighbour not in best or new < best[neighbour]:
                best[neighbour] = new
                heapq.heappush(queue, (new, neighbour))
    return best


def _components(members: set[str], links: list[tuple[str, str, bool]]) -> dict[str, str]:
    """Node -> smallest node (byte order) of its connected component among `members`."""
    parent = {n: n for n in members}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b, _ in links:
        if a in members and b in members:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb, key=byte_order)] = min(ra, rb, key=byte_order)
    return {n: root(n) for n in members}


def resolve(src: Sources) -> Resolved:
    links = _links(src)
    nodes = _nodes(src, links)
    user_ids = {str(u["id"]) for u in src.users}
    anchors = {n for n in nodes if n.startswith("distinct_id:") and n[12:] in user_ids}
    graph: dict[str, list[tuple[str, tuple[int, int]]]] = defaultdict(list)
    for a, b, weak in links:
        step = (1, 0) if weak else (0, 1)
        graph[a].append((b, step))
        graph[b].append((a, step))

    # each node's least cost over all anchors, and the anchors at that cost (its tied set)
    least: dict[str, tuple[int, int]] = {}
    tied: dict[str, set[str]] = defaultdict(set)
    for anchor in sorted(anchors):
        for node, cost in _distances(anchor, graph, anchors).items():
            if node not in least or cost < least[node]:
                least[node], tied[node] = cost, {anchor}
            elif cost == least[node]:
                tied[node].add(anchor)

    persons, resolutions, costs = {}, {}, {}
    unresolved = set()
    for node in nodes:
        costs[node] = as_number(least[node]) if node in least else None
        if node in anchors:
            persons[node], resolutions[node] = node[12:], "app_user"
        elif node in least and len(tied[node]) == 1:
            persons[node], resolutions[node] = next(iter(tied[node]))[12:], "nearest_app_user"
        else:
            unresolved.add(node)
            resolutions[node] = "contested" if node in least else "unanchored"
    for node, label in _components(unresolved, links).items():
        persons[node] = anon_person(label)

    events = _split_by_time(src, persons, resolutions, tied)
    return Resolved(persons, resolutions, costs, events)


def _identifications(src: Sources, persons: dict[str, str], resolutions: dict[str, str],
                     tied: dict[str, set[str]]) -> dict[str, list[tuple]]:
    """Contested distinct_id -> its identifications, sorted: (timestamp, uuid, app user)
    for each $identify / $create_alias / $merge_dangerously linking it to an id that
    belongs to exactly one of the app users tied on it."""
    found: dict[str, list[tuple]] = defaultdict(list)
    for e in src.posthog_events:
        if e["event"] not in LINK_EVENTS:
            continue
        props = e.get("properties") or {}
        linked = props.get("$anon_distinct_id" if e["event"] == "$identify" else "alias")
        for end, other in ((linked, e["distinct_id"]), (e["distinct_id"], linked)):
            if end is None or other is None or end == other:
                continue
            node, other_node = f"distinct_id:{end}", f"distinct_id:{other}"
            if resolutions.get(node) != "contested":
                continue
            if resolutions.get(other_node) not in ("app_user", "nearest_app_user"):
                continue
            user = persons[other_node]
            if f"distinct_id:{user}" in tied[node]:
                found[end].append((e["ts"], e["uuid"], user))
    return {d: sorted(ids) for d, ids in found.items()}


def _owner(identifications: list[tuple], at: dt.datetime) -> str:
    """The user identified most recently at or before `at` (only timestamps compare the
    event with identifications), else the first identified user."""
    before = [i for i in identifications if i[0] <= at]
    return (before[-1] if before else identifications[0])[2]


def _split_by_time(src: Sources, persons: dict[str, str], resolutions: dict[str, str],
                   tied: dict[str, set[str]]) -> dict[str, str]:
    identifications = _identifications(src, persons, resolutions, tied)

    def person(distinct_id: str, at: dt.datetime) -> str:
        node = f"distinct_id:{distinct_id}"
        if resolutions[node] == "contested" and distinct_id in identifications:
            return _owner(identifications[distinct_id], at)
        return persons[node]

    out = {e["uuid"]: person(e["distinct_id"], e["ts"]) for e in src.posthog_events}
    for e in src.app_events:
        out[f"app-{e['id']}"] = person(str(e["user_id"]), e["created_at"])
    return out
