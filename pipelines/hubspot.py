"""HubSpot CRM v3 (contacts, companies, deals, their associations and the deals' stage history)
→ `raw_hubspot`.

Facts this module relies on are in SOURCES.md section 3 (HubSpot) and section 5 (dlt).

Tables (all merged, so re-runs and overlapping reads add nothing):

| table | primary key | what |
| --- | --- | --- |
| `contacts`, `companies`, `deals` | `id` | one row per record, latest version |
| `contact_company_associations` | `from_id`, `to_id`, `association_type_id` | one row per label |
| `deal_company_associations` | same | one row per label |
| `deal_contact_associations` | same | one row per label |
| `deal_stage_history` | `deal_id`, `changed_at`, `stage` | one row per value `dealstage` has had |
| `_rejected_records` | `source`, `location`, `position` | records that could not be loaded |

- **Properties land as flattened columns** (`max_table_nesting=1`): `properties__email`,
  `properties__lastmodifieddate`, ... Only the properties asked for are returned, so the
  column set stays small and typed; a property added later (`extra_properties`) or a new
  top-level field simply becomes a new column. HubSpot sends every property as a string:
  empty strings become NULL; `createdate`, `lastmodifieddate`, `hs_lastmodifieddate`,
  `closedate`, `createdAt`, `updatedAt` and `archivedAt` are parsed into UTC timestamps;
  everything else (`amount`, `numberofemployees`, `hs_is_closed_won`, ids) stays text for
  staging to cast.
- **Incremental** through `POST /crm/v3/objects/{type}/search`: `GTE` on the last-modified
  property (contacts `lastmodifieddate`, companies and deals `hs_lastmodifieddate`), sorted
  ascending, 200 a page. The cursor is dlt's incremental on the parent resource
  `<type>_search`, kept in `state["sources"]["hubspot"]["resources"]["<type>_search"]
  ["incremental"]["properties.<last-modified property>"]["last_value"]`; it commits with the
  load, so a failed run starts again from the same place. Each run re-reads the last
  `lag_seconds` (default 5 minutes): HubSpot takes a few seconds to make changes
  searchable, and merge on `id` makes the overlap harmless.
- **The 10,000-results cap** of one search query is crossed by re-issuing the query with the
  last modified time seen as the new `GTE` bound (and, when more than a cap's worth of records
  share one timestamp, by paging that timestamp by `hs_object_id`). Rows read twice at a
  boundary are merged on `id`, the latest `lastmodifieddate` winning.
- **Search is throttled** to `search_requests_per_second` (default 4, HubSpot's per-token
  search limit); 429 and 5xx answers, dropped connections and answers whose JSON body was
  cut off (`pipelines/responses.py`) are retried by dlt with exponential backoff
  (`RUNTIME__REQUEST_*`).
- **Associations** (search returns none) are read for the records of this run with the v4
  batch endpoint, 100 ids a request. Each object's rows are replaced as a whole (`merge_key`
  `from_id`); an object that lost all its associations gets a row marking the removal, which
  the merge applies and does not keep. Rows are one per label (`association_type_id`,
  `association_category`, `association_label`): staging dedupes pairs. A result without its
  `from.id` or a target without its `toObjectId` goes to `_rejected_records`.
- **Deal stage history** (search cannot return property history) is read for the deals of
  this run with `POST /crm/v3/objects/deals/batch/read`, body `{"inputs": [{"id": ...}],
  "properties": ["dealstage"], "propertiesWithHistory": ["dealstage"]}`, 50 ids a request.
  Each result carries `propertiesWithHistory.dealstage`, a list of `ValueWithTimestamp`
  (`value`, `timestamp`, `sourceType`, optional `sourceId`, `sourceLabel`, integer
  `updatedByUserId`); every entry becomes a row, merged on (`deal_id`, `changed_at`,
  `stage`), so re-reading a deal adds nothing and values HubSpot later drops are kept.
  Entries without a timestamp or value, or with an unparseable one, go to
  `_rejected_records`. Ids HubSpot no longer finds (a deal deleted since the search) come
  back under `errors` (`OBJECT_NOT_FOUND`) and have no history to load. Verified:
  - request and response shapes: HubSpot's reference "Read a batch of deals by internal ID"
    (https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/deals/batch/get-deals,
    https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/batch/get-objects)
    and the SDK models `BatchReadInputSimplePublicObjectId` (`inputs`, `properties`,
    `propertiesWithHistory`, `idProperty`) and `ValueWithTimestamp` (`value` and
    `timestamp` and `sourceType` required; https://github.com/speakeasy-sdks/hubspot,
    deals/docs/models/components/valuewithtimestamp.md); the response is
    `{"status": "COMPLETE", "results", "startedAt", "completedAt", "numErrors"?, "errors"?}`.
  - at most 100 inputs a batch read, and 50 when `propertiesWithHistory` is asked for:
    HubSpot answers 400 `VALIDATION_ERROR` "The maximum number of inputs supported in a
    batch request for property histories is 50. Please reduce the number of items and try
    again" (quoted in https://github.com/activepieces/activepieces/pull/9359); Estuary's
    HubSpot connector batches 50 with history and 100 without
    (https://github.com/estuary/connectors, source-hubspot-native/.../object_with_associations.py).
  - the order of the history list (newest first, as HubSpot's legacy `versions` lists) is
    not stated in HubSpot's reference; this module does not rely on it.
- **Archived records**: every run lists `GET /crm/v3/objects/{type}?archived=true` and merges
  those rows (`archived = true`, `archived_at`) into the same tables. Their association rows
  stay in raw (an association is re-read only when its `from` object is searched again, and
  an archived one never is); `stg_hubspot__associations` leaves out every association with
  an archived end.
- **Bad records** (no `id`: missing, null, `""` or blank; no `properties`, no last-modified
  value, an unparseable date) go to `_rejected_records` with the reason and the record's
  text, keyed by the record's text when it has no id; the rest loads.
- **Errors**: a permanent 4xx (401 `INVALID_AUTHENTICATION`, 403 `MISSING_SCOPES`, ...) stops the
  run with a `HubSpotError` naming the endpoint, HubSpot's category and message, and what to do.
  The token travels only through dlt's bearer auth (rest_api's `auth` config), never in the
  headers or bodies dlt logs, and is scrubbed from every error message.

Config: `SOURCES__HUBSPOT__ACCESS_TOKEN` (a private-app token with the `crm.objects.contacts.read`,
`crm.objects.companies.read` and `crm.objects.deals.read` scopes), optional
`SOURCES__HUBSPOT__BASE_URL`, or the same keys under `[sources.hubspot]` in `.dlt/`.
Select association tables and `deal_stage_history` together with their objects: they read the
ids the objects' search produced, so selecting one alone would still advance that search's
cursor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dlt
import orjson
from dlt.extract import DltResource
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from dlt.sources.rest_api import rest_api_resources
from requests import HTTPError, Request, Response, Session
from requests.adapters import HTTPAdapter

from pipelines.quarantine import Rejects
from pipelines.responses import raise_if_cut_off

SOURCE = "hubspot"
DEFAULT_BASE_URL = "https://api.hubapi.com"
SEARCH_PAGE = 200  # HubSpot's maximum
LIST_PAGE = 100  # HubSpot's maximum
SEARCH_RESULT_CAP = 10_000
ASSOCIATION_BATCH = 100  # HubSpot's batch-read limit since 2025
STAGE_HISTORY_BATCH = 50  # HubSpot's batch-read limit when propertiesWithHistory is asked for
STAGE_HISTORY_PATH = "crm/v3/objects/deals/batch/read"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
REJECTED = "_hubspot_rejected"  # marks a record set aside by `_clean`


@dataclass(frozen=True)
class CrmObject:
    name: str
    modified: str  # the last-modified property the search filters and sorts on
    properties: tuple[str, ...]


OBJECTS = (
    CrmObject("contacts", "lastmodifieddate", (
        "email", "firstname", "lastname", "lifecyclestage", "hs_lead_status", "createdate",
        "lastmodifieddate", "hs_analytics_source", "associatedcompanyid",
        # the surviving record of a merge lists the merged-away ids (identity stitching)
        "hs_merged_object_ids")),
    CrmObject("companies", "hs_lastmodifieddate", (
        "name", "domain", "industry", "numberofemployees", "lifecyclestage", "createdate",
        "hs_lastmodifieddate")),
    CrmObject("deals", "hs_lastmodifieddate", (
        "dealname", "dealstage", "amount", "closedate", "pipeline", "createdate",
        "hs_lastmodifieddate", "hs_is_closed_won")),
)
# (from object, to object, table)
ASSOCIATIONS = (
    ("contacts", "companies", "contact_company_associations"),
    ("deals", "companies", "deal_company_associations"),
    ("deals", "contacts", "deal_contact_associations"),
)
DATE_PROPERTIES = frozenset({"createdate", "lastmodifieddate", "hs_lastmodifieddate", "closedate"})
DATE_FIELDS = ("createdAt", "updatedAt", "archivedAt")
ASSOCIATION_KEY = ("from_id", "to_id", "association_type_id")
STAGE_HISTORY_KEY = ("deal_id", "changed_at", "stage")
STAGE_HISTORY_COLUMNS = [
    {"name": "deal_id", "data_type": "text", "nullable": False},
    {"name": "stage", "data_type": "text", "nullable": False},
    {"name": "changed_at", "data_type": "timestamp", "nullable": False},
    {"name": "source_type", "data_type": "text"},
    {"name": "source_id", "data_type": "text"},
    {"name": "source_label", "data_type": "text"},
    {"name": "updated_by_user_id", "data_type": "bigint"},
]


class HubSpotError(HTTPError):
    """HubSpot answered an error (dlt retries it first if it is a 429 or 5xx); the message
    names the endpoint, HubSpot's category and message, and what to do."""


# -- values ---------------------------------------------------------------------------------
def parse_datetime(value: Any) -> dt.datetime | None:
    """A UTC datetime from HubSpot date text (ISO, `Z` or offset, or epoch-ms digits)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    try:
        if text.isdigit():
            return EPOCH + dt.timedelta(milliseconds=int(text))
        parsed = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _ms(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)  # exact, unlike float seconds


def epoch_ms_text(value: dt.datetime) -> str:
    """The search filter value for a datetime: epoch milliseconds as a string."""
    return str(_ms(parse_datetime(value)))


def _epoch_ms(value: Any) -> int | None:
    parsed = parse_datetime(value)
    return None if parsed is None else _ms(parsed)


def _position(record: Any, raw: str) -> int:
    """Where a rejected record sits, stable across re-reads: its numeric id, else a hash."""
    object_id = record.get("id") if isinstance(record, dict) else None
    if isinstance(object_id, str | int) and str(object_id).isdigit():
        return int(object_id)
    return int.from_bytes(hashlib.blake2b(raw.encode(), digest_size=8).digest(), "big") >> 1


def _clean(record: Any, modified: str, location: str) -> dict:
    """The record ready to load (`""` → None, dates parsed), or a `REJECTED` envelope saying
    why not. Runs before dlt's incremental, so the cursor compares datetimes, never text;
    an envelope has no cursor value and passes the incremental untouched."""
    reason: str | None = None
    row: dict = {}
    if not isinstance(record, dict):
        reason = "not_an_object"
    elif record.get("id") is None or not str(record["id"]).strip():
        reason = "missing_id"
    elif not isinstance(record.get("properties"), dict):
        reason = "missing_properties"
    else:
        row = {k: (None if v == "" else v) for k, v in record.items()}
        row["id"] = str(record["id"])
        properties = {k: (None if v == "" else v) for k, v in record["properties"].items()}
        for name in [n for n in properties if n in DATE_PROPERTIES] + list(DATE_FIELDS):
            source = properties if name in DATE_PROPERTIES else row
            if source.get(name) is None:
                continue
            parsed = parse_datetime(source[name])
            if parsed is None:
                reason = f"unparseable_{name}"
                break
            source[name] = parsed
        if reason is None and properties.get(modified) is None:
            reason = f"missing_{modified}"
        row["properties"] = properties
    if reason is None:
        return row
    raw = orjson.dumps(record, default=str).decode()
    return {REJECTED: {"location": location, "position": _position(record, raw),
                       "reason": reason, "raw": raw}}


def _cleaner(modified: str, location: str) -> Callable[[Any], dict]:
    def clean(record: Any) -> dict:
        return _clean(record, modified, location)

    return clean


def _split(page: list[dict], table: str, modified: str) -> Iterator[Any]:
    """Loadable rows to `table`; envelopes to `_rejected_records`."""
    rows = [r for r in page if REJECTED not in r]
    if rows:
        yield dlt.mark.with_hints(rows, dlt.mark.make_hints(
            table_name=table, primary_key="id", write_disposition="merge",
            # rows read twice in one run (a cap restart, the lag overlap): the latest wins
            columns=[{"name": f"properties__{modified}", "data_type": "timestamp",
                      "dedup_sort": "desc"}],
        ), create_table_variant=True)
    by_location: dict[str, Rejects] = {}
    for envelope in (r[REJECTED] for r in page if REJECTED in r):
        rejects = by_location.setdefault(envelope["location"],
                                         Rejects(SOURCE, envelope["location"]))
        rejects.add(envelope["position"], envelope["reason"], envelope["raw"])
    for rejects in by_location.values():
        yield rejects.table_item()  # a table variant: the object's hints stay its own


# -- HTTP -------------------------------------------------------------------------------------
class SearchThrottle(HTTPAdapter):
    """Spaces out search requests; HubSpot limits search to about 4 a second per token.

    Mounted on the session, so it sits under dlt's retries and paces every attempt."""

    def __init__(self, per_second: float) -> None:
        super().__init__()
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next_at = 0.0
        self._lock = threading.Lock()

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        if self._interval and request.method == "POST" and request.url.endswith("/search"):
            with self._lock:
                now = time.monotonic()
                wait = self._next_at - now
                self._next_at = max(now, self._next_at) + self._interval
            if wait > 0:
                time.sleep(wait)
        return super().send(request, *args, **kwargs)


def _session(search_requests_per_second: float) -> Session:
    """dlt's retrying session (429, 5xx, dropped connections) with the search throttle."""
    session = Client(raise_for_status=False).session
    throttle = SearchThrottle(search_requests_per_second)
    session.mount("https://", throttle)
    session.mount("http://", throttle)
    return session


ADVICE = {
    401: "Check the private-app token in SOURCES__HUBSPOT__ACCESS_TOKEN (or access_token "
         "under [sources.hubspot] in .dlt/secrets.toml).",
    403: "Grant the private app the missing read scopes (crm.objects.contacts.read, "
         "crm.objects.companies.read, crm.objects.deals.read) and run again.",
    429: "HubSpot's rate limit held through dlt's retries; run again later or lower "
         "search_requests_per_second.",
}


def describe_error(response: Response, token: str | None) -> str:
    """`hubspot: POST /crm/v3/objects/contacts/search failed: 401 INVALID_AUTHENTICATION ...`"""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    category = body.get("category") or body.get("errorType") or ""
    message = body.get("message") or response.reason or response.text[:300]
    method = response.request.method if response.request is not None else "?"
    status = response.status_code
    advice = ADVICE.get(status, "")
    scopes = [scope for error in body.get("errors") or [] if isinstance(error, dict)
              for scope in (error.get("context") or {}).get("requiredGranularScopes") or []]
    if status == 403 and scopes:
        advice = f"Grant the private app the {', '.join(scopes)} scope and run again."
    elif status >= 500:
        advice = "HubSpot failed through dlt's retries; run again later (the cursor did not move)."
    elif status == 400 and response.url.endswith("/search"):
        advice = ("If this is the per-query result cap, set search_result_cap below HubSpot's "
                  "limit.")
    text = (f"hubspot: {method} {urlsplit(response.url).path} failed: {status} {category}: "
            f"{str(message).rstrip('.')}. {advice}").strip()
    return text.replace(token, "***") if token else text


def _error_hook(token: str | None) -> Callable[..., None]:
    def raise_for_hubspot_error(response: Response, *args: Any, **kwargs: Any) -> None:
        # an HTTPError carrying the response, so dlt still retries 429 and 5xx
        if response.status_code >= 400:
            raise HubSpotError(describe_error(response, token), response=response)
        # a 200 whose JSON was cut off: retried like a dropped connection
        raise_if_cut_off(response, SOURCE)

    return raise_for_hubspot_error


class SearchPaginator(BasePaginator):
    """Pages a CRM search with `after` in the body, and crosses the per-query result cap.

    rest_api's cursor paginator cannot do this part: HubSpot answers 400 when a query pages
    past `cap` results, so the query has to be re-issued with a new lower bound. When the next
    `after` reaches the cap, the query restarts at `GTE` the last modified time seen. If the
    whole capped query shares one time, the bound cannot move: that time is then paged on its
    own (`EQ` the time, `hs_object_id GT` the last id seen, sorted by id), and the query goes
    on at `GT` the time."""

    def __init__(self, modified: str, cap: int = SEARCH_RESULT_CAP) -> None:
        super().__init__()
        self.modified = modified
        self.cap = cap

    def init_request(self, request: Request) -> None:
        self._first: int | None = None  # earliest modified time of the current query
        self._tie: int | None = None  # the shared time being paged by id
        self._query: dict | None = None  # filterGroups and sorts of the next request
        self._after: str | None = None

    def _range(self, operator: str, moment: int) -> dict:
        return {"filterGroups": [{"filters": [
                    {"propertyName": self.modified, "operator": operator, "value": str(moment)}]}],
                "sorts": [{"propertyName": self.modified, "direction": "ASCENDING"}]}

    def _ties(self, moment: int, after_id: int | None) -> dict:
        filters = [{"propertyName": self.modified, "operator": "EQ", "value": str(moment)}]
        if after_id is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT",
                            "value": str(after_id)})
        return {"filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}

    def _restart(self, records: list[dict]) -> dict:
        if self._tie is not None:
            ids = [int(r["id"]) for r in records if str(r.get("id", "")).isdigit()]
            return self._ties(self._tie, max(ids, default=None))
        times = [t for t in (_epoch_ms((r.get("properties") or {}).get(self.modified))
                             for r in records) if t is not None]
        if not times:
            raise ValueError(f"hubspot: a full search page without {self.modified}; cannot "
                             "move the query past the result cap")
        last = max(times)
        if self._first is not None and last > self._first:
            self._first = None
            return self._range("GTE", last)
        self._tie = last
        return self._ties(last, None)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        after = ((response.json().get("paging") or {}).get("next") or {}).get("after")
        records = [r for r in data or [] if isinstance(r, dict)]
        if self._first is None and self._tie is None and records:
            self._first = _epoch_ms((records[0].get("properties") or {}).get(self.modified))
        self._query, self._after, self._has_next_page = None, None, True
        if after and not (str(after).isdigit() and int(after) >= self.cap):
            self._after = str(after)
        elif after:  # the next page would be past the cap: restart the query
            self._query = self._restart(records)
        elif self._tie is not None:  # the shared time is done: carry on after it
            self._query = self._range("GT", self._tie)
            self._tie, self._first = None, None
        else:
            self._has_next_page = False

    def update_request(self, request: Request) -> None:
        if self._query is not None:
            request.json.update(self._query)
        if self._after is None:
            request.json.pop("after", None)
        else:
            request.json["after"] = self._after


# -- associations -------------------------------------------------------------------------------
def _blank(value: Any) -> bool:
    """No id: missing, null, `""` or only white space (NBSP included)."""
    return value is None or not str(value).strip()


def read_associations(client: RESTClient, from_type: str, to_type: str, ids: Sequence[str],
                      on_error: Callable[..., None], rejects: Rejects) -> Iterator[dict]:
    """Rows of `POST /crm/v4/associations/{from}/{to}/batch/read` for `ids`, one per label,
    following each id's `paging.next.after`; an id with none gets a removal marker.

    A result without its `from.id`, or a target without its `toObjectId`, goes to
    `rejects` (`missing_from_id` / `missing_to_id`). A batch with such a result cannot tell
    which of its ids had no associations, so it marks no removal: those objects keep their
    rows until they are read again."""
    path = f"crm/v4/associations/{from_type}/{to_type}/batch/read"
    pending: list[dict] = [{"id": i} for i in ids]
    found: set[str] = set()
    unattributed = False
    while pending:
        body = client.post(path, json={"inputs": pending}, hooks={"response": [on_error]}).json()
        pending = []
        for result in body.get("results") or []:
            from_id = ((result.get("from") or {}) if isinstance(result, dict) else {}).get("id")
            if _blank(from_id):
                unattributed = True
                _reject_association(rejects, result, "missing_from_id")
                continue
            from_id = str(from_id)
            found.add(from_id)
            for target in result.get("to") or []:
                if _blank(target.get("toObjectId")):
                    _reject_association(rejects, {"from": {"id": from_id}, "to": [target]},
                                        "missing_to_id")
                    continue
                for kind in target.get("associationTypes") or []:
                    yield {"from_id": from_id, "to_id": str(target["toObjectId"]),
                           "association_type_id": kind.get("typeId"),
                           "association_category": kind.get("category"),
                           "association_label": kind.get("label")}
            after = ((result.get("paging") or {}).get("next") or {}).get("after")
            if after:
                pending.append({"id": from_id, "after": after})
    for object_id in ids:
        if object_id not in found and not unattributed:
            # merge_key from_id deletes the object's old rows; is_removed keeps this one out
            yield {"from_id": object_id, "to_id": "", "association_type_id": 0,
                   "is_removed": True}


def _reject_association(rejects: Rejects, item: Any, reason: str) -> None:
    raw = orjson.dumps(item, default=str).decode()
    rejects.add(_position(None, raw), reason, raw)  # a hash of the text: stable on re-reads


def _association_table(parent: DltResource, client: RESTClient, from_type: str, to_type: str,
                       table: str, on_error: Callable[..., None]) -> DltResource:
    # the table's hints travel with its rows (a table variant, as in `_split`), so the
    # rejects variant does not inherit this table's columns, keys or hard-delete column
    hints = dlt.mark.make_hints(
        table_name=table, primary_key=ASSOCIATION_KEY, merge_key="from_id",
        write_disposition="merge",
        columns=[{"name": "from_id", "data_type": "text"},
                 {"name": "to_id", "data_type": "text"},
                 {"name": "association_type_id", "data_type": "bigint"},
                 {"name": "association_category", "data_type": "text"},
                 {"name": "association_label", "data_type": "text"},
                 {"name": "is_removed", "data_type": "bool", "hard_delete": True}])
    location = f"crm/v4/associations/{from_type}/{to_type}/batch/read"

    @dlt.transformer(data_from=parent, name=table, write_disposition="merge")
    def associations(page: list[dict]) -> Iterator[Any]:
        ids = list(dict.fromkeys(r["id"] for r in page if REJECTED not in r))
        rejects = Rejects(SOURCE, location)
        for start in range(0, len(ids), ASSOCIATION_BATCH):
            batch = ids[start:start + ASSOCIATION_BATCH]
            rows = list(read_associations(client, from_type, to_type, batch, on_error,
                                          rejects))
            if rows:
                yield dlt.mark.with_hints(rows, hints, create_table_variant=True)
        if rejects:
            yield rejects.table_item()

    return associations


# -- deal stage history -------------------------------------------------------------------------
def _user_id(value: Any) -> int | None:
    """HubSpot's `updatedByUserId` as an int; raises ValueError when it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
        raise ValueError(value)
    return int(str(value).strip())


def stage_change_row(deal_id: str, entry: Any) -> tuple[dict | None, str | None]:
    """(row, None) for one `ValueWithTimestamp` of a deal's `dealstage` history, or
    (None, reason) when it cannot be loaded (no or unparseable timestamp, no value)."""
    if not isinstance(entry, dict):
        return None, "not_an_object"
    if entry.get("timestamp") in (None, ""):
        return None, "missing_timestamp"
    changed_at = parse_datetime(entry["timestamp"])
    if changed_at is None:
        return None, "unparseable_timestamp"
    if entry.get("value") in (None, ""):
        return None, "missing_value"
    try:
        user_id = _user_id(entry.get("updatedByUserId"))
    except ValueError:
        return None, "unparseable_updated_by_user_id"
    return {
        "deal_id": deal_id,
        "stage": str(entry["value"]),
        "changed_at": changed_at,
        "source_type": entry.get("sourceType") or None,
        "source_id": None if entry.get("sourceId") in (None, "") else str(entry["sourceId"]),
        "source_label": entry.get("sourceLabel") or None,
        "updated_by_user_id": user_id,
    }, None


def _reject_entry(rejects: Rejects, deal_id: Any, entry: Any, reason: str) -> None:
    raw = orjson.dumps({"deal_id": deal_id, "dealstage": entry}, default=str).decode()
    # no top-level `id`, so the position is a hash of the text: stable across re-reads
    rejects.add(_position(None, raw), reason, raw)


def read_stage_history(client: RESTClient, ids: Sequence[str], on_error: Callable[..., None],
                       rejects: Rejects) -> Iterator[dict]:
    """Rows of `dealstage`'s history for `ids` (at most STAGE_HISTORY_BATCH) from one
    `POST /crm/v3/objects/deals/batch/read`; entries that cannot be loaded go to `rejects`."""
    body = client.post(STAGE_HISTORY_PATH, json={
        "inputs": [{"id": i} for i in ids],
        "properties": ["dealstage"],
        "propertiesWithHistory": ["dealstage"],
    }, hooks={"response": [on_error]}).json()
    for result in body.get("results") or []:
        deal_id = result.get("id") if isinstance(result, dict) else None
        if deal_id is None or not str(deal_id).strip():
            _reject_entry(rejects, None, result, "missing_id")
            continue
        history = (result.get("propertiesWithHistory") or {}).get("dealstage") or []
        for entry in history:
            row, reason = stage_change_row(str(deal_id), entry)
            if row is None:
                _reject_entry(rejects, str(deal_id), entry, reason)
            else:
                yield row


def _stage_history_table(parent: DltResource, client: RESTClient,
                         on_error: Callable[..., None]) -> DltResource:
    # the table's hints travel with its rows (a table variant, as in `_split`), so the
    # rejects variant does not inherit this table's columns
    hints = dlt.mark.make_hints(table_name="deal_stage_history", primary_key=STAGE_HISTORY_KEY,
                                write_disposition="merge", columns=STAGE_HISTORY_COLUMNS)

    @dlt.transformer(data_from=parent, name="deal_stage_history", write_disposition="merge")
    def deal_stage_history(page: list[dict]) -> Iterator[Any]:
        ids = list(dict.fromkeys(r["id"] for r in page if REJECTED not in r))
        rejects = Rejects(SOURCE, STAGE_HISTORY_PATH)
        for start in range(0, len(ids), STAGE_HISTORY_BATCH):
            batch = ids[start:start + STAGE_HISTORY_BATCH]
            rows = list(read_stage_history(client, batch, on_error, rejects))
            if rows:
                yield dlt.mark.with_hints(rows, hints, create_table_variant=True)
        if rejects:
            yield rejects.table_item()

    return deal_stage_history


# -- the source ---------------------------------------------------------------------------------
def _object_rows(parent: DltResource, name: str, table: str, modified: str) -> DltResource:
    # a transformer, not a rest_api processing step: rest_api's steps run before dlt's
    # incremental, and the incremental cannot pass a rejects table (it has no cursor column)
    @dlt.transformer(data_from=parent, name=name, write_disposition="merge")
    def rows(page: list[dict]) -> Iterator[Any]:
        yield from _split(page, table, modified)

    return rows


@dlt.source(name=SOURCE, max_table_nesting=1)
def hubspot(
    access_token: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    extra_properties: dict[str, list[str]] | None = None,
    lag_seconds: float = 300.0,
    search_requests_per_second: float = 4.0,
    search_page_size: int = SEARCH_PAGE,
    search_result_cap: int = SEARCH_RESULT_CAP,
) -> list[DltResource]:
    """HubSpot contacts, companies, deals (incremental), their associations and the deals'
    stage history.

    `extra_properties` adds properties per object type, e.g. `{"contacts": ["plan"]}`
    (existing rows get them when they next change, or on a run with `refresh`)."""
    extra = extra_properties or {}
    on_error = _error_hook(access_token)
    session = _session(search_requests_per_second)
    endpoints: list[dict] = []
    for crm in OBJECTS:
        names = list(dict.fromkeys([*crm.properties, *extra.get(crm.name, [])]))
        search_path = f"crm/v3/objects/{crm.name}/search"
        list_path = f"crm/v3/objects/{crm.name}"
        endpoints.append({
            "name": f"{crm.name}_search",
            "endpoint": {
                "path": search_path,
                "method": "POST",
                "json": {
                    "filterGroups": [{"filters": [{"propertyName": crm.modified,
                                                   "operator": "GTE",
                                                   "value": "{incremental.start_value}"}]}],
                    "sorts": [{"propertyName": crm.modified, "direction": "ASCENDING"}],
                    "properties": names,
                    "limit": search_page_size,
                },
                "paginator": SearchPaginator(crm.modified, search_result_cap),
                "incremental": {
                    "cursor_path": f"properties.{crm.modified}",
                    "initial_value": EPOCH,
                    "convert": epoch_ms_text,
                    "lag": lag_seconds,
                    "on_cursor_value_missing": "include",  # rejected envelopes pass through
                },
            },
            "processing_steps": [{"map": _cleaner(crm.modified, search_path)}],
        })
        endpoints.append({
            "name": f"{crm.name}_archived_list",
            "endpoint": {
                "path": list_path,
                "params": {"archived": "true", "limit": LIST_PAGE, "properties": ",".join(names)},
                "paginator": {"type": "cursor", "cursor_path": "paging.next.after",
                              "cursor_param": "after"},
            },
            "processing_steps": [{"map": _cleaner(crm.modified, f"{list_path}?archived=true")}],
        })
    raw = {r.name: r for r in rest_api_resources({
        "client": {"base_url": base_url, "auth": {"type": "bearer", "token": access_token},
                   "session": session},
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "selected": False,  # read through the transformers below
            "endpoint": {"data_selector": "results", "response_actions": [on_error]},
        },
        "resources": endpoints,
    })}
    client = RESTClient(base_url=base_url, auth=BearerTokenAuth(access_token), session=session)
    resources: list[DltResource] = list(raw.values())
    for crm in OBJECTS:
        resources.append(_object_rows(raw[f"{crm.name}_search"], crm.name, crm.name,
                                      crm.modified))
        resources.append(_object_rows(raw[f"{crm.name}_archived_list"],
                                      f"{crm.name}_archived", crm.name, crm.modified))
    for from_type, to_type, table in ASSOCIATIONS:
        resources.append(_association_table(raw[f"{from_type}_search"], client, from_type,
                                            to_type, table, on_error))
    resources.append(_stage_history_table(raw["deals_search"], client, on_error))
    return resources
