"""Intercom contacts and conversations (REST API, pinned version) → `raw_intercom`.

Declarative: dlt's `rest_api` does the requests, paging, retries and incremental cursor;
the code here only adds what it cannot express (each place says why).

- **Incremental on `updated_at`** (unix seconds) through `POST /contacts/search` and
  `POST /conversations/search`, cursor in the body at `pagination.starting_after`, taken
  from `pages.next.starting_after` (absent on the last page). The first run searches
  `updated_at > 0`, i.e. everything.
- **Day-granular search.** Intercom matches contact dates by calendar day in the
  workspace's timezone: `updated_at > t` starts at the *next* midnight, so asking for
  `> last` would skip the rest of `last`'s day (`>=` is an error). Each run asks for
  `updated_at > last − 2 days` (dlt's `lag`): one day for the truncation, one more for a
  25-hour DST day and for records that became searchable minutes late (documented for new
  contacts). The re-read rows are merged on `id`, so a re-run changes nothing. The same
  window is used for conversations, whose `>` is documented as "greater or equal".
- **Merge on `id`**, the latest `updated_at` winning within a load.
- **Raw stays raw**: unix-second ints are kept as BIGINT (staging converts them with
  `to_timestamp`); ids and `external_id` are text, as SEMANTICS.md compares them.
  `custom_attributes` (keys may contain spaces) and the other free-form or list-wrapper
  objects are JSON columns, never exploded into columns. A conversation's contacts land in
  the child table `conversations__contacts__contacts` (`id`, `external_id`, joined on
  `_dlt_parent_id` = `conversations._dlt_id`, or `_dlt_root_id`); `source` and
  `statistics` are flattened into `source__*` and `statistics__*` columns.
- **Bad records** (no `id`: missing, null, `""` or blank; a date that is not a
  unix-seconds integer) go to `_rejected_records` with their reason; the rest loads. A
  conversation's contact without an id is rejected on its own (`contact_without_id`) and
  the conversation loads without it.
- **Errors**: 429 and 5xx are retried with dlt's backoff, waiting until
  `X-RateLimit-Reset` when Intercom sends it (it never sends `Retry-After`); so are
  answers whose JSON body was cut off (`pipelines/responses.py`), like a dropped
  connection, and when every attempt is cut off the run stops naming the endpoint. Any other
  4xx fails at once with `IntercomAPIError` naming the endpoint and Intercom's error code.
  The token only travels in dlt's bearer auth, so it is never in a URL, log or message.
- **Not seen**: contacts merged away or deleted vanish from search, so they stay in raw
  until a full reload (`pipeline.run(intercom(), refresh="drop_resources")`).

Config (dlt providers, section `sources.intercom`): `SOURCES__INTERCOM__ACCESS_TOKEN`
(secret), `SOURCES__INTERCOM__BASE_URL` (EU `https://api.eu.intercom.io`, AU
`https://api.au.intercom.io`), `SOURCES__INTERCOM__API_VERSION` (default 2.14, whose shapes
are the ones pinned here; 2.15+ change some, see SOURCES.md section 4, so staging should
check for `__v_*` variant columns after a switch) and
`SOURCES__INTERCOM__PAGE_SIZE` (default and maximum 150).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import dlt
import orjson
from dlt.sources.rest_api import rest_api_resources
from dlt.sources.rest_api.typing import RESTAPIConfig
from requests import HTTPError, Response

from pipelines.quarantine import REJECTED_TABLE, Rejects
from pipelines.responses import raise_if_cut_off

SOURCE = "intercom"
DAY = 86_400
SEARCH_LAG = 2 * DAY
MAX_PAGE_SIZE = 150  # the documented maximum for list and search
# Unix-second dates a record must carry as integers (or null) to be loaded.
UNIX_TIME_FIELDS = {
    "contacts": (
        "updated_at", "created_at", "signed_up_at", "last_seen_at", "last_replied_at",
        "last_contacted_at", "last_email_opened_at", "last_email_clicked_at",
    ),
    "conversations": ("updated_at", "created_at", "waiting_since", "snoozed_until"),
}
STATISTICS_INTEGERS = tuple(
    f"statistics__{name}"
    for name in (
        "first_contact_reply_at", "first_assignment_at", "first_admin_reply_at",
        "first_close_at", "last_assignment_at", "last_assignment_admin_reply_at",
        "last_contact_reply_at", "last_admin_reply_at", "last_close_at",
        "time_to_assignment", "time_to_admin_reply", "time_to_first_close",
        "time_to_last_close", "median_time_to_reply", "count_reopens", "count_assignments",
        "count_conversation_parts",
    )
)
# Column types pinned for what staging reads (2.14 shapes), so a column exists with its
# type even when every value so far is null (a workspace of leads has no signed_up_at).
# Columns not named here are inferred; new fields evolve the schema on their own.
COLUMN_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "contacts": {
        "text": (
            "id", "workspace_id", "external_id", "role", "email", "email_domain", "phone",
            "name", "location__country", "location__region", "location__city",
            "location__country_code", "location__continent_code",
        ),
        "bigint": UNIX_TIME_FIELDS["contacts"],
        "bool": ("has_hard_bounced", "marked_email_as_spam", "unsubscribed_from_emails"),
        # free-form (custom_attributes keys may hold spaces) or `{type: list, data: [...]}`
        # wrappers of at most 10 references: JSON, never a column per key
        "json": (
            "custom_attributes", "social_profiles", "tags", "notes", "companies",
            "opted_in_subscription_types", "opted_out_subscription_types",
        ),
    },
    "conversations": {
        "text": (
            "id", "title", "state", "priority", "source__type", "source__id",
            "source__delivered_as", "source__subject", "source__author__type",
            "source__author__id", "source__author__name", "source__author__email",
            "statistics__last_closed_by_id",
        ),
        "bigint": (
            *UNIX_TIME_FIELDS["conversations"], "admin_assignee_id", "team_assignee_id",
            *STATISTICS_INTEGERS,
        ),
        "bool": ("open", "read"),
        "json": (
            "custom_attributes", "tags", "teammates", "linked_objects", "ai_agent",
            "source__attachments",
        ),
    },
}
DATA_SELECTOR = {"contacts": "data", "conversations": "conversations"}
# A hints variant starts from the resource's own hints; `columns={}` drops the contact or
# conversation column hints so the rejects table gets only its own (inferred) columns.
REJECT_HINTS = dlt.mark.make_hints(
    table_name=REJECTED_TABLE,
    primary_key=["source", "location", "position"],
    write_disposition="merge",
    columns={},
)


class IntercomAPIError(HTTPError):
    """Intercom refused a request; the message names the endpoint and Intercom's reason."""


def _error_detail(response: Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or response.text
    except (ValueError, AttributeError):
        return response.text[:500]


ADVICE = {
    401: "check the access token (SOURCES__INTERCOM__ACCESS_TOKEN) and that base_url is the "
    "workspace's region",
    403: "the token lacks a permission this endpoint needs; grant it in the Developer Hub",
    400: "Intercom refused the request; if it names starting_after, the page cursor expired: "
    "run again to restart the search",
    429: "rate limited, and still so after dlt's retries; run again later",
}


def raise_for_intercom_status(response: Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: names the failing endpoint, makes a 429 wait for its window, and
    has a cut-off 200 retried.

    rest_api's own error check says only "Client Error for url", and dlt's backoff reads
    `Retry-After` but not Intercom's `X-RateLimit-Reset`; a hook can do both. The error is
    an HTTPError carrying the response, so dlt still retries 429 and 5xx."""
    if response.status_code < 400:
        raise_if_cut_off(response, SOURCE)  # a 200 whose JSON was cut off: retried
        return
    reset = response.headers.get("X-RateLimit-Reset", "")
    if response.status_code == 429 and "Retry-After" not in response.headers and reset.isdigit():
        wait = math.ceil(int(reset) - time.time())
        if wait > 0:
            response.headers["Retry-After"] = str(wait)
    endpoint = f"{response.request.method} {urlsplit(response.url).path}"
    status = response.status_code
    advice = ADVICE.get(status, "Intercom's servers failed" if status >= 500 else "")
    raise IntercomAPIError(
        f"intercom: {endpoint} failed with HTTP {status} ({_error_detail(response)})"
        + (f"; {advice}" if advice else ""),
        response=response,
    )


def _is_unix_seconds(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_blank(value: Any) -> bool:
    """No id: missing, null, `""` or only white space (NBSP included), as SEMANTICS.md
    has it."""
    return value is None or not str(value).strip()


def _problem(record: Any, kind: str) -> str | None:
    """Why a record cannot be loaded, or None."""
    if not isinstance(record, dict):
        return "not_a_json_object"
    if _is_blank(record.get("id")):
        return "missing_id"
    if record.get("updated_at") is None:
        return "missing_updated_at"
    for name in UNIX_TIME_FIELDS[kind]:  # updated_at first: it is the cursor
        value = record.get(name)
        if value is not None and not _is_unix_seconds(value):
            return f"{name}_not_unix_seconds"
    return None


def _text_ids(item: dict) -> dict:
    """`id` and `external_id` as text: SEMANTICS.md compares ids as text, and an integer
    arriving first would otherwise type the column BIGINT."""
    return {
        k: str(v) if k in ("id", "external_id") and v is not None else v for k, v in item.items()
    }


def _loadable(record: dict, kind: str) -> tuple[dict, list[tuple[int, Any]]]:
    """The record ready to load, and the (list position, entry) of each of a
    conversation's contacts that has no id: those are taken out of its list (a link through
    a blank id would tie the conversation to nobody, or to every other blank link)."""
    row = _text_ids(record)
    links = row.get("contacts")
    unlinked: list[tuple[int, Any]] = []
    if kind == "conversations" and isinstance(links, dict):
        people = []
        for position, person in enumerate(links.get("contacts") or []):
            if isinstance(person, dict) and not _is_blank(person.get("id")):
                people.append(_text_ids(person))
            else:
                unlinked.append((position, person))
        row["contacts"] = {**links, "contacts": people}
    return row, unlinked


def _reject_row(location: str, position: int, reason: str, raw: bytes) -> Any:
    rejects = Rejects(SOURCE, location)
    rejects.add(position, reason, raw)
    return dlt.mark.with_hints(rejects.rows[0], REJECT_HINTS, create_table_variant=True)


def _rejected(kind: str, record: Any, reason: str) -> Any:
    """The record as a `_rejected_records` row. An API record has no file position, so it is
    keyed by its id, or by its content when it has none: re-reading the same bad record
    replaces its row instead of counting it twice."""
    raw = orjson.dumps(record, default=str)
    record_id = record.get("id") if isinstance(record, dict) else None
    if _is_blank(record_id):  # two blank ids are two records, not one
        key = f"sha1={hashlib.sha1(raw).hexdigest()[:16]}"
    else:
        key = f"id={record_id}"
    return _reject_row(f"{kind}/search {key}", 0, reason, raw)


def checked(kind: str) -> Callable[[Any], Iterator[Any]]:
    """rest_api processing step: a loadable record, or its reject routed aside.

    rest_api has no quarantine, and its incremental step fails the run on a cursor that
    is not comparable; processing steps run before that step, so a bad record is turned
    into a `_rejected_records` row (which has no cursor and passes through) here. A
    conversation's contact without an id is rejected on its own (`contact_without_id`,
    at its place in the list); the conversation loads without it."""

    def check(record: Any) -> Iterator[Any]:
        reason = _problem(record, kind)
        if reason:
            yield _rejected(kind, record, reason)
            return
        row, unlinked = _loadable(record, kind)
        yield row
        for position, person in unlinked:
            yield _reject_row(f"{kind}/search id={row['id']} contacts", position,
                              "contact_without_id", orjson.dumps(person, default=str))

    return check


def _columns(kind: str) -> dict[str, dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {
        name: {"data_type": data_type}
        for data_type, names in COLUMN_TYPES[kind].items()
        for name in names
    }
    columns["updated_at"]["dedup_sort"] = "desc"  # a record met twice in one load: latest wins
    return columns


def _search_resource(kind: str, page_size: int) -> dict[str, Any]:
    return {
        "name": kind,
        "columns": _columns(kind),
        "endpoint": {
            "path": f"{kind}/search",
            "method": "POST",
            "json": {
                "query": {
                    "field": "updated_at",
                    "operator": ">",
                    "value": "{incremental.start_value}",
                },
                "pagination": {"per_page": page_size},
            },
            "data_selector": DATA_SELECTOR[kind],
            "paginator": {
                "type": "cursor",
                "cursor_path": "pages.next.starting_after",
                "cursor_body_path": "pagination.starting_after",
            },
            "incremental": {
                "cursor_path": "updated_at",
                "initial_value": 0,
                "lag": SEARCH_LAG,
                # only rejects (routed to their own table) come through without a cursor
                "on_cursor_value_missing": "include",
            },
            "response_actions": [raise_for_intercom_status],
        },
        "processing_steps": [{"yield_map": checked(kind)}],
    }


def intercom_config(
    base_url: str, access_token: str, api_version: str, page_size: int = MAX_PAGE_SIZE
) -> RESTAPIConfig:
    """The rest_api configuration: bearer auth, pinned version, one search per resource."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    return {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "auth": {"type": "bearer", "token": access_token},
            "headers": {"Accept": "application/json", "Intercom-Version": api_version},
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
        },
        "resources": [
            _search_resource("contacts", page_size),
            _search_resource("conversations", page_size),
        ],
    }


@dlt.source(name=SOURCE)
def intercom(
    base_url: str = "https://api.intercom.io",
    access_token: str = dlt.secrets.value,
    api_version: str = "2.14",
    page_size: int = MAX_PAGE_SIZE,
) -> Any:
    """Intercom `contacts` and `conversations`, incremental on `updated_at`.

    Config keys (section `sources.intercom`): `access_token` (secret), `base_url`,
    `api_version` (the `Intercom-Version` header; shapes parsed here are 2.14's) and
    `page_size` (results per search page, at most 150)."""
    return rest_api_resources(intercom_config(base_url, access_token, api_version, page_size))

