"""A fake HubSpot CRM API: the endpoints `pipelines/hubspot.py` reads, in HubSpot's shapes.

Shapes and limits follow /work/shared/SOURCES.md section 3 and the vendor's pages:

- List `GET /crm/v3/objects/{type}` (https://developers.hubspot.com/docs/api/crm/contacts):
  `limit` (default 10, max 100), opaque `after` from `paging.next.after`, `properties`
  (comma list; omitted → the object's default properties), `associations` (comma list of
  object types, one row per label), `archived=true` (only archived records). The last page
  has no `paging` key.
- Search `POST /crm/v3/objects/{type}/search` (https://developers.hubspot.com/docs/api/crm/search):
  `filterGroups` (OR of groups, AND of filters; at most 5 groups, 10 filters a group, 25 in
  all) with EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY;
  dates compared as epoch milliseconds; `sorts` (object or string form), `limit` (max 200),
  `after` (an offset string), `total`; no associations; archived records never match.
  Paging at or past the result cap (10,000 at HubSpot, `search_cap` here) is a 400
  `VALIDATION_ERROR`.
- Associations v4 `POST /crm/v4/associations/{from}/{to}/batch/read`
  (https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/batch/get-associations):
  `{"inputs":[{"id","after"?}]}` → `{"status":"COMPLETE","results":[{"from":{"id"},"to":[
  {"toObjectId","associationTypes":[{"category","typeId","label"}]}],"paging"?}],
  "startedAt","completedAt"}`; ids without associations come back under `errors` with
  HTTP 207. At most 100 inputs a request: HubSpot's changelog
  (https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api)
  has carried both 1000 and 100; the fake enforces the stricter one.
- Objects batch read `POST /crm/v3/objects/{type}/batch/read`
  (https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/deals/batch/get-deals):
  `{"inputs":[{"id"}],"properties"?,"propertiesWithHistory"?}`, `?archived=true` for
  archived records only → `{"status":"COMPLETE","results":[{"id","properties",
  "propertiesWithHistory"?:{name:[{"value","timestamp","sourceType","sourceId"?,
  "sourceLabel"?,"updatedByUserId"?}, ... newest first]},"createdAt","updatedAt",
  "archived"}],"startedAt","completedAt"}`; ids not found come back under `errors`
  (`OBJECT_NOT_FOUND`, `context.ids`; the message text is this fake's) with HTTP 207. At
  most 100 inputs, and 50 with `propertiesWithHistory`: past it, HubSpot's 400
  `VALIDATION_ERROR` "The maximum number of inputs supported in a batch request for
  property histories is 50. ..." (quoted in
  https://github.com/activepieces/activepieces/pull/9359). A record's history is its
  `propertiesWithHistory` as the generator wrote it (the list API's shape when asked for
  history); a property without one has a single entry, its current value at `createdAt`;
  `modify` adds an entry for every value it changes. Newest first follows HubSpot's
  legacy `versions` lists; HubSpot's v3 reference does not state the order.
- Errors (https://developers.hubspot.com/docs/api/usage-details):
  `{"status":"error","message","correlationId","category"}` for 400/401/403/404; 429 as
  `{"status":"error","message":"You have reached your ten_secondly_rolling limit.",
  "errorType":"RATE_LIMIT","correlationId","policyName":"TEN_SECONDLY_ROLLING","requestId"}`
  without `Retry-After`. Every request needs `Authorization: Bearer <token>`.

Records are kept in the list API's shape (as `journeys.generator` writes them); tests
change them between runs with `modify`, `add` and `archive`. Every request the pipeline
makes is recorded (`requests`, from the base class), and so is what each search answered
(`served`).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeys.stand_ins.server import FakeAPI, Request, Response

OBJECT_TYPES = ("contacts", "companies", "deals")
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate",
            "deals": "hs_lastmodifieddate"}
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                 "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"),
}
DATE_PROPERTIES = {"createdate", "lastmodifieddate", "hs_lastmodifieddate", "closedate"}
NUMBER_PROPERTIES = {"hs_object_id", "amount", "numberofemployees", "associatedcompanyid"}
# list-API association labels → v4 (category, typeId, label); SOURCES.md section 3
ASSOCIATION_TYPES = {
    "contact_to_company": ("HUBSPOT_DEFINED", 1, "Primary"),
    "contact_to_company_unlabeled": ("HUBSPOT_DEFINED", 279, None),
    "deal_to_company": ("HUBSPOT_DEFINED", 5, "Primary"),
    "deal_to_company_unlabeled": ("HUBSPOT_DEFINED", 341, None),
    "deal_to_contact": ("HUBSPOT_DEFINED", 3, None),
}
LIST_MAX = 100
SEARCH_MAX = 200
SEARCH_CAP = 10_000
BATCH_READ_MAX = 100
HISTORY_BATCH_READ_MAX = 50  # objects batch read with propertiesWithHistory
HISTORY_LIMIT_MESSAGE = ("The maximum number of inputs supported in a batch request for "
                         "property histories is 50. Please reduce the number of items and try "
                         "again")
ASSOCIATIONS_PAGE = 500
MAX_GROUPS, MAX_GROUP_FILTERS, MAX_FILTERS = 5, 10, 25
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SEARCH_RATE = 5  # search requests a second before a 429 (HubSpot: 4/s per token, 5/s per account)


def hubspot_time(moment: dt.datetime) -> str:
    """HubSpot's datetime text: UTC, milliseconds, `Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def epoch_ms(value: str) -> int | None:
    """A HubSpot date value (ISO text or epoch-millisecond digits) in epoch ms, else None."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return (parsed - EPOCH) // dt.timedelta(milliseconds=1)


def error_body(message: str, category: str, **extra: Any) -> dict:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
            "category": category, **extra}


def rate_limit_body() -> dict:
    """HubSpot's 429 body (SOURCES.md section 3); it comes without `Retry-After`."""
    return {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING", "requestId": str(uuid.uuid4())}


def unauthorized_body() -> dict:
    return error_body(
        "Authentication credentials not found. This API supports OAuth 2.0 authentication "
        "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
        "oauth-overview",
        "INVALID_AUTHENTICATION",
    )


def missing_scopes_body(scope: str) -> dict:
    return error_body(
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes.",
        "MISSING_SCOPES",
        errors=[{"message": "One or more of the following scopes are required.",
                 "context": {"requiredGranularScopes": [scope]}}],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


def load_generated(folder: Path) -> dict[str, list[dict]]:
    """Records of `journeys generate`'s `hubspot/<type>/page-*.json` (union of `results`)."""
    records: dict[str, list[dict]] = {}
    for object_type in OBJECT_TYPES:
        pages = sorted((Path(folder) / object_type).glob("page-*.json"))
        records[object_type] = [r for p in pages for r in json.loads(p.read_text())["results"]]
    return records


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Served:
    """What one search request answered."""

    object_type: str
    body: dict
    ids: list[str]


class HubSpotAPI(FakeAPI):
    """HubSpot's CRM endpoints over `records` (`{"contacts": [...], ...}`, list-API shape)."""

    def __init__(self, records: dict[str, list[dict]], token: str = "pat-na1-fake-token",
                 search_cap: int = SEARCH_CAP, search_rate: int | None = SEARCH_RATE,
                 associations_page: int = ASSOCIATIONS_PAGE) -> None:
        super().__init__()
        self.records = {t: copy.deepcopy(list(records.get(t, []))) for t in OBJECT_TYPES}
        self.token = token
        self.search_cap = search_cap
        self.search_rate = search_rate
        self.associations_page = associations_page
        self.missing_scopes: set[str] = set()
        self.served: list[Served] = []
        self.search_arrivals: list[float] = []  # time.monotonic() of every search that reached it
        self.rate_limited = 0  # searches answered 429 by the fake's own rate limit
        self._search_times: list[float] = []
        self._data_lock = threading.Lock()

    # -- changing the data between runs ------------------------------------------------
    def get(self, object_type: str, object_id: str) -> dict:
        return next(r for r in self.records[object_type] if r.get("id") == object_id)

    def modify(self, object_type: str, object_id: str, at: dt.datetime, **properties: Any
               ) -> dict:
        """Change properties of a record and stamp it modified at `at`."""
        with self._data_lock:
            record = self.get(object_type, object_id)
            for name, value in properties.items():
                if record["properties"].get(name) != value:
                    entry = {"value": value, "timestamp": hubspot_time(at), "sourceType": "API"}
                    record.setdefault("propertiesWithHistory", {})[name] = [
                        entry, *property_history(record, name)]
            record["properties"].update(properties)
            record["properties"][MODIFIED[object_type]] = hubspot_time(at)
            record["updatedAt"] = hubspot_time(at)
            return record

    def add(self, object_type: str, record: dict) -> None:
        with self._data_lock:
            self.records[object_type].append(copy.deepcopy(record))

    def archive(self, object_type: str, object_id: str, at: dt.datetime) -> None:
        with self._data_lock:
            record = self.get(object_type, object_id)
            record["archived"] = True
            record["archivedAt"] = hubspot_time(at)

    def search_bodies(self, object_type: str) -> list[dict]:
        path = f"/crm/v3/objects/{object_type}/search"
        return [r.body for r in self.requests if r.method == "POST" and r.path == path]

    def batch_read_bodies(self, object_type: str) -> list[dict]:
        """Bodies of every objects batch read of `object_type` that reached the fake."""
        path = f"/crm/v3/objects/{object_type}/batch/read"
        return [r.body for r in self.requests if r.method == "POST" and r.path == path]

    # -- routing -----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Response(401, unauthorized_body())
        parts = request.path.strip("/").split("/")
        try:
            if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
                object_type = parts[3]
                if object_type not in OBJECT_TYPES:
                    return Response(404, error_body(f"Unable to infer object type from: "
                                                    f"{object_type}", "OBJECT_NOT_FOUND"))
                if object_type in self.missing_scopes:
                    return Response(403, missing_scopes_body(f"crm.objects.{object_type}.read"))
                if len(parts) == 4 and request.method == "GET":
                    return self._list(object_type, request)
                if len(parts) == 5 and parts[4] == "search" and request.method == "POST":
                    return self._search(object_type, request)
                if parts[4:] == ["batch", "read"] and request.method == "POST":
                    return self._objects_batch_read(object_type, request)
            if (parts[:3] == ["crm", "v4", "associations"] and len(parts) == 7
                    and parts[5:] == ["batch", "read"] and request.method == "POST"):
                return self._batch_read(parts[3], parts[4], request)
        except BadRequest as error:
            return Response(400, error_body(error.message, "VALIDATION_ERROR"))
        return Response(404, error_body(f"No route for {request.method} {request.path}",
                                        "OBJECT_NOT_FOUND"))

    # -- list ------------------------------------------------------------------------------
    def _list(self, object_type: str, request: Request) -> Response:
        limit = _int(request.param("limit", "10"), "limit")
        if not 1 <= limit <= LIST_MAX:
            raise BadRequest(f"limit must be between 1 and {LIST_MAX}, got {limit}")
        archived = (request.param("archived", "false") or "").lower() == "true"
        names = _split(request.param("properties")) or list(DEFAULT_PROPERTIES[object_type])
        with_associations = _split(request.param("associations"))
        with_history = _split(request.param("propertiesWithHistory"))
        with self._data_lock:
            matching = sorted(
                (r for r in self.records[object_type] if bool(r.get("archived")) == archived),
                key=_id_order,
            )
            start = _decode_after(request.param("after"))
            page = matching[start:start + limit]
            results = [self._render(object_type, r, names, with_associations, with_history)
                       for r in page]
        body: dict = {"results": results}
        if start + limit < len(matching):
            after = _encode_after(start + limit)
            body["paging"] = {"next": {"after": after, "link": f"{self.base_url}"
                                       f"/crm/v3/objects/{object_type}?after={after}"}}
        return Response(200, body)

    # -- search ----------------------------------------------------------------------------
    def _search(self, object_type: str, request: Request) -> Response:
        self.search_arrivals.append(time.monotonic())
        if self._over_search_rate():
            self.rate_limited += 1
            return Response(429, rate_limit_body())
        body = request.body if isinstance(request.body, dict) else {}
        limit = _int(body.get("limit", 10), "limit")
        if not 1 <= limit <= SEARCH_MAX:
            raise BadRequest(f"limit must be between 1 and {SEARCH_MAX}, got {limit}")
        offset = _int(body.get("after") or 0, "after")
        if offset >= self.search_cap:
            raise BadRequest(
                f"Search results are limited to {self.search_cap} per query; the requested "
                f"page starts at {offset}. Narrow the query to page further."
            )
        groups = body.get("filterGroups") or []
        _check_filter_limits(groups)
        names = list(body.get("properties") or DEFAULT_PROPERTIES[object_type])
        names += [n for n in ("hs_object_id", "createdate", MODIFIED[object_type])
                  if n not in names]
        with self._data_lock:
            matching = [r for r in self.records[object_type]
                        if not r.get("archived") and _matches(r, groups)]
            for sort in reversed(body.get("sorts") or []):
                name, descending = _sort_spec(sort)
                matching.sort(key=lambda r, n=name: _sort_key(r, n), reverse=descending)
            if not body.get("sorts"):
                matching.sort(key=_id_order)
            end = min(offset + limit, self.search_cap)
            page = matching[offset:end]
            results = [self._render(object_type, r, names, []) for r in page]
        answer: dict = {"total": len(matching), "results": results}
        if offset + len(page) < len(matching):
            after = str(offset + len(page))
            answer["paging"] = {"next": {"after": after, "link": f"{self.base_url}"
                                         f"/crm/v3/objects/{object_type}/search?after={after}"}}
        self.served.append(Served(object_type, body, [str(r.get("id")) for r in page]))
        return Response(200, answer)

    def _over_search_rate(self) -> bool:
        if not self.search_rate:
            return False
        now = time.monotonic()
        with self._data_lock:
            self._search_times = [t for t in self._search_times if t > now - 1.0]
            if len(self._search_times) >= self.search_rate:
                return True
            self._search_times.append(now)
        return False

    # -- objects batch read -----------------------------------------------------------------
    def _objects_batch_read(self, object_type: str, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise BadRequest("inputs must be a non-empty list")
        if not all(isinstance(i, dict) and i.get("id") not in (None, "") for i in inputs):
            raise BadRequest("every input needs an id")
        with_history = list(body.get("propertiesWithHistory") or [])
        if with_history and len(inputs) > HISTORY_BATCH_READ_MAX:
            raise BadRequest(HISTORY_LIMIT_MESSAGE)
        if len(inputs) > BATCH_READ_MAX:
            raise BadRequest(f"Batch read accepts at most {BATCH_READ_MAX} inputs, "
                             f"got {len(inputs)}")
        archived = (request.param("archived", "false") or "").lower() == "true"
        names = list(body.get("properties") or DEFAULT_PROPERTIES[object_type])
        names += [n for n in ("hs_object_id", "createdate", MODIFIED[object_type])
                  if n not in names]
        started = hubspot_time(dt.datetime.now(dt.UTC))
        results, missing = [], []
        with self._data_lock:
            by_id = {str(r.get("id")): r for r in self.records[object_type]
                     if bool(r.get("archived")) == archived}
            for object_id in dict.fromkeys(str(i["id"]) for i in inputs):
                record = by_id.get(object_id)
                if record is None:
                    missing.append(object_id)
                else:
                    results.append(self._render(object_type, record, names, [], with_history))
        answer: dict = {"status": "COMPLETE", "results": results, "startedAt": started,
                        "completedAt": hubspot_time(dt.datetime.now(dt.UTC))}
        if not missing:
            return Response(200, answer)
        answer["numErrors"] = 1
        answer["errors"] = [{
            "status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": missing},
            "message": f"Could not get some {object_type} objects, they may be deleted or "
                       "not exist. Check that ids are valid.",
        }]
        return Response(207, answer)

    # -- associations v4 -----------------------------------------------------------------
    def _batch_read(self, from_type: str, to_type: str, request: Request) -> Response:
        if from_type not in OBJECT_TYPES or to_type not in OBJECT_TYPES:
            raise BadRequest(f"Unknown object type pair {from_type} → {to_type}")
        inputs = (request.body or {}).get("inputs") if isinstance(request.body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise BadRequest("inputs must be a non-empty list")
        if len(inputs) > BATCH_READ_MAX:
            raise BadRequest(f"Batch read accepts at most {BATCH_READ_MAX} inputs, "
                             f"got {len(inputs)}")
        started = hubspot_time(dt.datetime.now(dt.UTC))
        results, missing = [], []
        with self._data_lock:
            by_id = {r.get("id"): r for r in self.records[from_type]}
            for item in inputs:
                object_id = str(item.get("id"))
                record = by_id.get(object_id)
                targets = _targets(record, to_type) if record else []
                if not targets:
                    missing.append(object_id)
                    continue
                start = _decode_after(item.get("after"))
                page = targets[start:start + self.associations_page]
                result: dict = {
                    "from": {"id": object_id},
                    "to": [{"toObjectId": int(to_id),
                            "associationTypes": [{"category": c, "typeId": t, "label": lab}
                                                 for c, t, lab in types]}
                           for to_id, types in page],
                }
                if start + len(page) < len(targets):
                    result["paging"] = {"next": {"after": _encode_after(start + len(page)),
                                                 "link": None}}
                results.append(result)
        body: dict = {"status": "COMPLETE", "results": results, "startedAt": started,
                      "completedAt": hubspot_time(dt.datetime.now(dt.UTC))}
        if missing:
            body["numErrors"] = len(missing)
            body["errors"] = [{
                "status": "error", "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "context": {"fromObjectId": [object_id]},
                "message": f"No {to_type} is associated with {from_type} {object_id}.",
            } for object_id in missing]
            return Response(207, body)
        return Response(200, body)

    # -- rendering -----------------------------------------------------------------------
    @staticmethod
    def _render(object_type: str, record: dict, names: Iterable[str],
                with_associations: list[str], with_history: Iterable[str] = ()) -> dict:
        properties = record.get("properties") or {}
        rendered = {k: copy.deepcopy(v) for k, v in record.items()
                    if k not in ("properties", "associations", "propertiesWithHistory")}
        if isinstance(properties, dict):
            rendered["properties"] = {n: properties.get(n) for n in names}
        else:
            rendered["properties"] = properties
        if with_history:
            rendered["propertiesWithHistory"] = {n: copy.deepcopy(property_history(record, n))
                                                 for n in with_history}
        associations = {t: copy.deepcopy(a) for t, a in (record.get("associations") or {}).items()
                        if t in with_associations}
        if associations:
            rendered["associations"] = associations
        return rendered


# -- helpers --------------------------------------------------------------------------------
def property_history(record: dict, name: str) -> list[dict]:
    """A property's history, newest first: the record's own `propertiesWithHistory`, else
    one entry holding the current value as set at `createdAt` (none when it has no value)."""
    stored = (record.get("propertiesWithHistory") or {}).get(name)
    if stored is not None:
        return stored
    value = (record.get("properties") or {}).get(name)
    if value is None or value == "":
        return []
    return [{"value": value, "timestamp": record.get("createdAt"), "sourceType": "CRM_UI"}]


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise BadRequest(f"{name} must be an integer, got {value!r}") from error


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _encode_after(offset: int) -> str:
    return base64.b64encode(f"{offset}\n".encode()).decode()


def _decode_after(after: str | None) -> int:
    if not after:
        return 0
    try:
        return int(base64.b64decode(after).decode().strip())
    except ValueError as error:
        raise BadRequest(f"Invalid after cursor {after!r}") from error


def _id_order(record: dict) -> tuple[int, str]:
    object_id = str(record.get("id") or "")
    return (int(object_id), "") if object_id.isdigit() else (1 << 62, object_id)


def _typed(name: str, value: Any) -> Any:
    """A property value as HubSpot compares it: dates as epoch ms, numbers as numbers."""
    if value is None or value == "":
        return None
    if name in DATE_PROPERTIES:
        return epoch_ms(value)
    if name in NUMBER_PROPERTIES:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return str(value)


def _check_filter_limits(groups: list) -> None:
    if len(groups) > MAX_GROUPS:
        raise BadRequest(f"At most {MAX_GROUPS} filterGroups are allowed")
    sizes = [len(g.get("filters") or []) for g in groups]
    if any(s > MAX_GROUP_FILTERS for s in sizes) or sum(sizes) > MAX_FILTERS:
        raise BadRequest(f"At most {MAX_GROUP_FILTERS} filters a group and {MAX_FILTERS} "
                         "in all are allowed")


def _matches(record: dict, groups: list) -> bool:
    if not groups:
        return True
    return any(all(_passes(record, f) for f in group.get("filters") or []) for group in groups)


def _passes(record: dict, spec: dict) -> bool:
    name, operator = spec.get("propertyName"), spec.get("operator")
    properties = record.get("properties") or {}
    actual = _typed(name, properties.get(name))
    if operator == "HAS_PROPERTY":
        return actual is not None
    if operator == "NOT_HAS_PROPERTY":
        return actual is None
    if operator in ("IN", "NOT_IN"):
        values = [_typed(name, v) for v in spec.get("values") or []]
        return (actual in values) == (operator == "IN")
    wanted = _typed(name, spec.get("value"))
    if operator == "NEQ":
        return actual != wanted
    if actual is None or wanted is None:
        return False
    if operator == "EQ":
        return actual == wanted
    if operator == "GT":
        return actual > wanted
    if operator == "GTE":
        return actual >= wanted
    if operator == "LT":
        return actual < wanted
    if operator == "LTE":
        return actual <= wanted
    if operator == "BETWEEN":
        high = _typed(name, spec.get("highValue"))
        return high is not None and wanted <= actual <= high
    raise BadRequest(f"Operator {operator!r} is not implemented by this fake")


def _sort_spec(sort: Any) -> tuple[str, bool]:
    if isinstance(sort, str):  # the OpenAPI spec's string form: "prop" or "-prop"
        return sort.lstrip("-"), sort.startswith("-")
    return sort.get("propertyName"), sort.get("direction", "ASCENDING") == "DESCENDING"


def _sort_key(record: dict, name: str) -> tuple:
    value = _typed(name, (record.get("properties") or {}).get(name))
    return (value is None, value if value is not None else 0, _id_order(record))


def _targets(record: dict, to_type: str) -> list[tuple[str, list[tuple]]]:
    """(to id, [(category, typeId, label), ...]) in first-seen order, one entry per object."""
    rows = ((record.get("associations") or {}).get(to_type) or {}).get("results") or []
    targets: dict[str, list[tuple]] = {}
    for row in rows:
        kind = ASSOCIATION_TYPES.get(row.get("type"))
        if kind:
            targets.setdefault(str(row["id"]), []).append(kind)
    return list(targets.items())
