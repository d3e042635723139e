"""PostHog's query API (HogQL) → `raw_posthog.api_events`, `api_persons`,
`api_person_distinct_ids`.

`POST /api/projects/{project_id}/query/` with a `HogQLQuery` (SOURCES.md 1.2), the
personal API key sent by dlt's `BearerTokenAuth` (never in the URL, the body or a static
header, which dlt logs at DEBUG). dlt's `RESTClient` retries 429 (PostHog sends no
`Retry-After`), 5xx and dropped connections with backoff; any other 4xx fails at once with
a message naming this source, the endpoint and what to check.

- **Keyset paging.** The endpoint has no cursor and refuses OFFSET for personal keys, so
  every table is read `ORDER BY <key> LIMIT page_size`, the next page starting strictly
  after the last row's key (`(created_at, uuid) > (…)` for events). A page shorter than
  the LIMIT is the last one. Rows sharing a key value across a page edge are neither lost
  nor read twice. `page_size` is at most 50 000, PostHog's cap on a LIMIT.
- **Events: incremental on `created_at`, bounded by a `timestamp` lookback** (SOURCES.md
  section 6 row 15). `created_at` is when PostHog received the event, so an event whose
  `timestamp` is hours or days old (a mobile app's offline queue) but that arrived after
  the last run is new to this one. Each run reads `created_at >= cursor - overlap_seconds`
  (the overlap re-reads events PostHog stamped before the cursor but stored after it) and
  `timestamp >= that - lookback_days`: the events table is partitioned and sorted by
  `timestamp`, and this bound is what lets ClickHouse skip the rest of it. An event that
  reached PostHog more than `lookback_days` after its timestamp is therefore not read
  (run once with a larger `lookback_days` to fetch it; the batch exports, cut on
  `_inserted_at`, have it either way). The first run reads everything. The cursor is the
  largest `created_at` loaded, never later than the moment the run started.
- **Where the cursor lives:** resource state,
  `pipeline.state["sources"]["posthog_api"]["resources"]["api_events"]["cursor"]`
  (`{"created_at": ISO-8601 UTC}`; a `{"timestamp": …}` cursor of an older version is
  read as a `created_at` one, which re-reads rather than skips). It commits with the load
  package, so a run that fails re-reads from the old cursor. Resource state rather than
  `dlt.sources.incremental`: rejected rows leave the same resource for
  `_rejected_records` and carry no cursor column, and the keyset loop needs the boundary
  itself.
- **Merge.** `api_events` on `uuid` (delete-insert, the most recently ingested copy by
  `created_at` winning, as ClickHouse can hold a uuid twice); `api_persons` on `id`;
  `api_person_distinct_ids` on `distinct_id`. Persons have no change timestamp in HogQL,
  so both person tables are read in full on every run.
- **Values.** `results` are lists in `columns` order; DateTimes come back in the project's
  timezone (`timezone`) and are parsed by their offset (a value without one is read in
  that timezone), never compared as text. `properties` arrives as a JSON string and loads
  as a JSON column. Event rows are checked with the file pipeline's rules
  (`posthog_files.validate`: no `uuid` or `distinct_id`, null, `''` or blank, or an
  unparseable timestamp, is rejected), persons without an `id` and mappings without a
  `distinct_id` or `person_id` likewise; a bad row goes to `_rejected_records` with its
  reason, once however often it is re-read. A row whose paging key does not read (a
  blank uuid, an unparseable `created_at`) is never the key the next page starts after.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dlt
import orjson
import pyarrow as pa
from dlt.sources.helpers import requests
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.redaction import sanitize_url
from dlt.sources.helpers.rest_client.utils import join_url

from pipelines.posthog_files import is_missing, json_text
from pipelines.posthog_files import validate as validate_event
from pipelines.quarantine import Rejects

SOURCE = "posthog_api"
MAX_PAGE_SIZE = 50_000  # PostHog's cap on an explicit HogQL LIMIT
DEFAULT_OVERLAP_SECONDS = 3_600  # re-read on created_at: stamped, not yet stored
DEFAULT_LOOKBACK_DAYS = 3  # how old (by timestamp) an event may be when PostHog receives it
REFRESH = "force_blocking"  # "blocking" may answer from a cache up to 6 h old
UTC = dt.UTC

# (HogQL expression, result column). `poe.*` are the person columns stored on the event at
# ingestion, as the batch export has them; plain `person_id` would be re-resolved through
# person_distinct_ids (an inner join in projects without persons-on-events).
EVENT_SELECT = (
    ("uuid", "uuid"),
    ("event", "event"),
    ("distinct_id", "distinct_id"),
    ("timestamp", "timestamp"),
    ("created_at", "created_at"),
    ("properties", "properties"),
    ("elements_chain", "elements_chain"),
    ("poe.id AS person_id", "person_id"),
    ("poe.properties AS person_properties", "person_properties"),
)
EVENT_SCHEMA = pa.schema(
    [
        ("uuid", pa.string()),
        ("event", pa.string()),
        ("distinct_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("properties", pa.string()),
        ("elements_chain", pa.string()),
        ("person_id", pa.string()),
        ("person_properties", pa.string()),
    ]
)
PERSON_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("is_identified", pa.bool_()),
        ("properties", pa.string()),
    ]
)
DISTINCT_ID_SCHEMA = pa.schema([("distinct_id", pa.string()), ("person_id", pa.string())])
MERGE = {"disposition": "merge", "strategy": "delete-insert"}
EVENT_HINTS = dlt.mark.make_hints(
    table_name="api_events",
    primary_key="uuid",
    write_disposition=MERGE,
    columns={
        "uuid": {"data_type": "text", "nullable": False},
        "timestamp": {"data_type": "timestamp", "nullable": False},
        "created_at": {"data_type": "timestamp", "dedup_sort": "desc"},
        "properties": {"data_type": "json"},
        "person_properties": {"data_type": "json"},
    },
)
PERSON_HINTS = dlt.mark.make_hints(
    table_name="api_persons",
    primary_key="id",
    write_disposition=MERGE,
    columns={"id": {"data_type": "text", "nullable": False}, "properties": {"data_type": "json"}},
)
DISTINCT_ID_HINTS = dlt.mark.make_hints(
    table_name="api_person_distinct_ids",
    primary_key="distinct_id",
    write_disposition=MERGE,
    columns={"distinct_id": {"data_type": "text", "nullable": False}},
)


class PostHogAPIError(RuntimeError):
    """The query API refused or failed a request; the message says which and what to do."""


# -- HogQL -----------------------------------------------------------------------------
def hogql_string(value: str) -> str:
    """A HogQL string literal (backslash escapes, as in ClickHouse)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def hogql_datetime(value: dt.datetime) -> str:
    """An exact instant: ISO-8601 with microseconds and an explicit UTC offset, so the
    project's timezone plays no part in reading it."""
    return f"toDateTime({hogql_string(value.astimezone(UTC).isoformat(timespec='microseconds'))})"


def events_query(
    since: dt.datetime | None,
    earliest: dt.datetime | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> str:
    """One page of events received (`created_at`) from `since` on, with a `timestamp`
    from `earliest` on, strictly after the keyset `after` on (created_at, uuid)."""
    conditions = []
    if since is not None:
        conditions.append(f"created_at >= {hogql_datetime(since)}")
    if earliest is not None:
        conditions.append(f"timestamp >= {hogql_datetime(earliest)}")
    if after is not None:
        moment, uuid = after
        conditions.append(
            f"(created_at, uuid) > ({hogql_datetime(moment)}, toUUID({hogql_string(uuid)}))"
        )
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    select = ", ".join(expression for expression, _ in EVENT_SELECT)
    return f"SELECT {select} FROM events{where} ORDER BY created_at, uuid LIMIT {limit}"


def persons_query(after: str | None, limit: int) -> str:
    where = f" WHERE id > toUUID({hogql_string(after)})" if after is not None else ""
    return (
        f"SELECT id, created_at, is_identified, properties FROM persons{where} "
        f"ORDER BY id LIMIT {limit}"
    )


def distinct_ids_query(after: str | None, limit: int) -> str:
    where = f" WHERE distinct_id > {hogql_string(after)}" if after is not None else ""
    return (
        f"SELECT distinct_id, person_id FROM person_distinct_ids{where} "
        f"ORDER BY distinct_id LIMIT {limit}"
    )


# -- HTTP ------------------------------------------------------------------------------
HINTS = {
    400: "PostHog refused the HogQL query; the detail above says why",
    401: (
        "check SOURCES__POSTHOG_API__PERSONAL_API_KEY: it must be a personal API key "
        "(phx_…) with the query:read scope, for the region in base_url (us or eu)"
    ),
    403: "the personal API key lacks the query:read scope or access to this project",
    404: "check SOURCES__POSTHOG_API__PROJECT_ID and SOURCES__POSTHOG_API__BASE_URL",
    429: (
        "PostHog still throttled after dlt's retries (HogQL queries default to 120/hour "
        "per team); run again later, or raise page_size to need fewer queries"
    ),
}


def _failure(endpoint: str, name: str, response: requests.Response) -> PostHogAPIError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = f"{body.get('code') or body.get('type') or ''}: {body.get('detail') or ''}"
    else:
        detail = response.text[:500]
    hint = HINTS.get(response.status_code) or (
        "PostHog kept failing after dlt's retries; run again later (the cursor did not move)"
        if response.status_code >= 500
        else "see PostHog's detail above"
    )
    return PostHogAPIError(
        f"{SOURCE}: {endpoint} ({name}) failed with HTTP {response.status_code} "
        f"{detail.strip(': ')}. What to do: {hint}."
    )


def run_query(client: RESTClient, path: str, name: str, hogql: str) -> dict:
    """The response of one blocking, uncached HogQL query (retries are dlt's)."""
    endpoint = f"POST {sanitize_url(join_url(client.base_url, path))}"
    body = {"query": {"kind": "HogQLQuery", "query": hogql}, "name": name, "refresh": REFRESH}
    try:
        response = client.post(path, json=body)
    except requests.RequestException as error:
        raise PostHogAPIError(
            f"{SOURCE}: {endpoint} ({name}) could not be reached after dlt's retries: "
            f"{type(error).__name__}. Check SOURCES__POSTHOG_API__BASE_URL and the network."
        ) from error
    if response.status_code >= 400:
        raise _failure(endpoint, name, response)
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        status = (payload or {}).get("query_status") if isinstance(payload, dict) else None
        raise PostHogAPIError(
            f"{SOURCE}: {endpoint} ({name}) answered HTTP {response.status_code} without "
            f"`results`{' (the query is still running)' if status else ''}; "
            f"expected a HogQLQueryResponse."
        )
    return payload


def project_timezone(payload: dict) -> dt.tzinfo:
    try:
        return ZoneInfo(payload.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def read_datetime(value: Any, zone: dt.tzinfo) -> Any:
    """An aware datetime from a DateTime value; a value without an offset is in the
    project's timezone. Unparseable values come back as they are, for validation."""
    if not isinstance(value, str):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


# -- paging ----------------------------------------------------------------------------
Page = tuple[list[dict], dt.tzinfo]


def keyset_pages(
    client: RESTClient,
    path: str,
    name: str,
    page_size: int,
    build_query: Callable[[Any], str],
    next_key: Callable[[list[dict], dt.tzinfo], Any],
) -> Iterator[Page]:
    """Pages of row dicts; each page starts strictly after `next_key` of the one before.
    Stops at the first page shorter than `page_size`."""
    after: Any = None
    while True:
        payload = run_query(client, path, name, build_query(after))
        columns = payload.get("columns") or []
        rows = [dict(zip(columns, row, strict=False)) for row in payload["results"]]
        zone = project_timezone(payload)
        yield rows, zone
        if len(rows) < page_size:
            return
        key = next_key(rows, zone)
        if key is None or key == after:
            raise PostHogAPIError(
                f"{SOURCE}: {name} cannot page on after {after!r}: no row of a full page of "
                f"{page_size} has a readable key (last row: {str(rows[-1])[:300]}). PostHog "
                f"returned malformed rows; try a different page_size or report it to PostHog."
            )
        after = key


def _event_key(rows: list[dict], zone: dt.tzinfo) -> tuple[dt.datetime, str] | None:
    """(created_at, uuid) of the last row that has both (a blank uuid is none). Rows
    after it (rejected: their key does not read) come again at the top of the next page,
    whose rejects merge with these; paging still moves forward."""
    for row in reversed(rows):
        moment = read_datetime(row.get("created_at"), zone)
        if isinstance(moment, dt.datetime) and not is_missing(row.get("uuid")):
            return moment.astimezone(UTC), str(row["uuid"])
    return None


def _column_key(column: str) -> Callable[[list[dict], dt.tzinfo], str | None]:
    def key(rows: list[dict], zone: dt.tzinfo) -> str | None:
        values = [row.get(column) for row in rows if not is_missing(row.get(column))]
        return str(values[-1]) if values else None

    return key


def _raw(row: dict) -> str:
    return orjson.dumps(row, default=str).decode()


def _reject(rejects: Rejects, table: str, key: str, reason: str, row: dict) -> None:
    """Keyed by the row's own id, so re-reading it (the overlap) does not count it twice;
    a row without one by a digest of the row as sent, so two such rows stay two."""
    raw = _raw(row)
    if is_missing(row.get(key)):
        digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
        location = f"{table} without {key} sha256={digest}"
    else:
        location = f"{table} {key}={row[key]}"
    one = Rejects(rejects.source, location)
    one.add(0, reason, raw)
    rejects.rows.extend(one.rows)


def _table_item(rows: list[dict], schema: pa.Schema, hints: Any) -> Any:
    """An arrow table of `rows` with its table's hints. Each item carries its own table
    variant, so the hints of one table (say a non-null `uuid`) never spill onto the other
    table the same resource writes (`_rejected_records`)."""
    table = pa.Table.from_pylist(
        [{f.name: row.get(f.name) for f in schema} for row in rows], schema=schema
    )
    return dlt.mark.with_hints(table, hints, create_table_variant=True)


def _event_record(row: dict, zone: dt.tzinfo) -> dict:
    """A result row in the export's form, for the file pipeline's `validate`: DateTimes
    read by their offset, and ClickHouse's empty-string "no properties" as null."""
    record = dict(row)
    for name in ("timestamp", "created_at"):
        record[name] = read_datetime(record.get(name), zone)
    for name in ("properties", "person_properties"):
        if record.get(name) == "":
            record[name] = None
    return record


# -- resources -------------------------------------------------------------------------
def _stored_cursor(state: dict) -> dt.datetime | None:
    """The `created_at` cursor; an older version's `timestamp` cursor stands in for it
    (every event received after it is re-read, none is skipped)."""
    saved = state.get("cursor") or {}
    value = saved.get("created_at") or saved.get("timestamp")
    return dt.datetime.fromisoformat(value) if value else None


def event_bounds(
    cursor: dt.datetime | None, overlap_seconds: int, lookback_days: int
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(received since, happened since) for a run starting from `cursor`."""
    if cursor is None:
        return None, None
    since = cursor - dt.timedelta(seconds=overlap_seconds)
    return since, since - dt.timedelta(days=lookback_days)


@dlt.resource(name="api_events", primary_key="uuid", write_disposition=MERGE)
def api_events(
    client: RESTClient, path: str, page_size: int, overlap_seconds: int, lookback_days: int
) -> Iterator[Any]:
    """Events received since (cursor - overlap) that happened at most `lookback_days`
    before that, in (created_at, uuid) order."""
    state = dlt.current.resource_state()
    started = dt.datetime.now(UTC)
    cursor = _stored_cursor(state)
    since, earliest = event_bounds(cursor, overlap_seconds, lookback_days)
    pages = keyset_pages(
        client,
        path,
        "journeys_events",
        page_size,
        lambda after: events_query(since, earliest, after, page_size),
        _event_key,
    )
    for rows, zone in pages:
        good: list[dict] = []
        rejects = Rejects(SOURCE, "events")
        for row in rows:
            valid, reason = validate_event(_event_record(row, zone))
            if reason:
                _reject(rejects, "events", "uuid", reason, row)
            else:
                good.append(valid)
        if good:
            yield _table_item(good, EVENT_SCHEMA, EVENT_HINTS)
            received = [row["created_at"] for row in good if row.get("created_at")]
            newest = min(max(received), started) if received else None
            if newest is not None and (cursor is None or newest > cursor):
                cursor = newest
                state["cursor"] = {"created_at": cursor.isoformat()}
        if rejects:
            yield rejects.table_item()


def validate_person(row: dict, zone: dt.tzinfo) -> tuple[dict | None, str | None]:
    if is_missing(row.get("id")):
        return None, "missing_id"
    created = read_datetime(row.get("created_at"), zone)
    if created is not None and not isinstance(created, dt.datetime):
        return None, "unparseable_created_at"
    try:
        properties = json_text(row.get("properties"))
    except orjson.JSONDecodeError:
        return None, "properties_not_json"
    identified = row.get("is_identified")
    if isinstance(identified, str):
        identified = identified.strip().lower() in ("1", "true")
    return {
        "id": str(row["id"]),
        "created_at": created.astimezone(UTC) if created else None,
        "is_identified": None if identified is None else bool(identified),
        "properties": properties,
    }, None


def validate_distinct_id(row: dict, zone: dt.tzinfo) -> tuple[dict | None, str | None]:
    for name in ("distinct_id", "person_id"):
        if is_missing(row.get(name)):
            return None, f"missing_{name}"
    return {"distinct_id": str(row["distinct_id"]), "person_id": str(row["person_id"])}, None


def _full_table(
    client: RESTClient,
    path: str,
    page_size: int,
    name: str,
    key: str,
    build_query: Callable[[str | None, int], str],
    check: Callable[[dict, dt.tzinfo], tuple[dict | None, str | None]],
    schema: pa.Schema,
    hints: Any,
) -> Iterator[Any]:
    table = name.removeprefix("journeys_")
    pages = keyset_pages(
        client,
        path,
        name,
        page_size,
        lambda after: build_query(after, page_size),
        _column_key(key),
    )
    for rows, zone in pages:
        good, rejects = [], Rejects(SOURCE, table)
        for row in rows:
            valid, reason = check(row, zone)
            if reason:
                _reject(rejects, table, key, reason, row)
            else:
                good.append(valid)
        if good:
            yield _table_item(good, schema, hints)
        if rejects:
            yield rejects.table_item()


@dlt.resource(name="api_persons", primary_key="id", write_disposition=MERGE)
def api_persons(client: RESTClient, path: str, page_size: int) -> Iterator[Any]:
    """Every person (HogQL's `persons`: latest version, deleted ones left out)."""
    yield from _full_table(
        client,
        path,
        page_size,
        "journeys_persons",
        "id",
        persons_query,
        validate_person,
        PERSON_SCHEMA,
        PERSON_HINTS,
    )


@dlt.resource(name="api_person_distinct_ids", primary_key="distinct_id", write_disposition=MERGE)
def api_person_distinct_ids(client: RESTClient, path: str, page_size: int) -> Iterator[Any]:
    """Which person each distinct_id maps to now (after merges)."""
    yield from _full_table(
        client,
        path,
        page_size,
        "journeys_person_distinct_ids",
        "distinct_id",
        distinct_ids_query,
        validate_distinct_id,
        DISTINCT_ID_SCHEMA,
        DISTINCT_ID_HINTS,
    )


# -- source ----------------------------------------------------------------------------
def _check_settings(
    base_url: str, project_id: str, page_size: int, overlap: int, lookback_days: int
) -> str:
    if not str(base_url).startswith(("http://", "https://")):
        raise ValueError(
            f"{SOURCE}: base_url must be an http(s) URL such as https://us.posthog.com or "
            f"https://eu.posthog.com, got {base_url!r}"
        )
    project = str(project_id).strip()
    if not project:
        raise ValueError(f"{SOURCE}: set SOURCES__POSTHOG_API__PROJECT_ID (the project's id)")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(
            f"{SOURCE}: page_size must be between 1 and {MAX_PAGE_SIZE} (PostHog's cap on a "
            f"HogQL LIMIT), got {page_size}"
        )
    if overlap < 0:
        raise ValueError(f"{SOURCE}: overlap_seconds cannot be negative, got {overlap}")
    if lookback_days < 0:
        raise ValueError(
            f"{SOURCE}: lookback_days cannot be negative, got {lookback_days} (days an event's "
            "timestamp may lie before the moment PostHog received it; default "
            f"{DEFAULT_LOOKBACK_DAYS})"
        )
    return f"api/projects/{quote(project, safe='@')}/query/"


@dlt.source(name=SOURCE, max_table_nesting=0)
def posthog_api(
    base_url: str = "https://us.posthog.com",
    project_id: str = dlt.config.value,
    personal_api_key: str = dlt.secrets.value,
    page_size: int = 10_000,
    overlap_seconds: int = DEFAULT_OVERLAP_SECONDS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> Sequence[Any]:
    """Events, persons and distinct-id mappings of one PostHog project, through HogQL.

    Config (dlt providers): `SOURCES__POSTHOG_API__BASE_URL`, `..._PROJECT_ID`,
    `..._PERSONAL_API_KEY` (secret), `..._PAGE_SIZE`, `..._OVERLAP_SECONDS`,
    `..._LOOKBACK_DAYS`.
    """
    path = _check_settings(base_url, project_id, page_size, overlap_seconds, lookback_days)
    client = RESTClient(base_url=base_url, auth=BearerTokenAuth(personal_api_key))
    return (
        api_events(client, path, page_size, overlap_seconds, lookback_days),
        api_persons(client, path, page_size),
        api_person_distinct_ids(client, path, page_size),
    )
