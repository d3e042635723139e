"""A stand-in for Intercom's REST API (version 2.14 shapes) on 127.0.0.1.

Serves what the Intercom pipeline reads, as documented (SOURCES.md section 4):

- `GET /contacts` (`{"type": "list", "data": [...]}`) and `GET /conversations`
  (`{"type": "conversation.list", "conversations": [...]}`), paged with `per_page`
  (contacts default 10 as SOURCES.md has it, though the newest OpenAPI text says 50;
  conversations default 20; max 150) and `starting_after`.
  https://developers.intercom.com/docs/build-an-integration/learn-more/rest-apis/pagination
- `POST /contacts/search` and `POST /conversations/search` with
  `{"query": ..., "pagination": {"per_page", "starting_after"}}` (default 50 and 20 per
  page, max 150), `total_count` and `pages`, whose `next.starting_after` is absent on the
  last page. Operators and date semantics from the 2.14 OpenAPI description
  (https://github.com/intercom/Intercom-OpenAPI, `descriptions/2.14/api.intercom.io.yaml`):
  on contacts, date fields match by calendar day in the workspace timezone (`=` the whole
  day, `>` from the start of the next day, `<` before the start of the day) and `!=`,
  `>=`, `<=`, `IN`, `NIN` are errors; on conversations `>` / `<` are "greater / lower
  (or equal)" with no day truncation, and `>=` / `<=` are not operators at all.
- Errors as `error.list` bodies: 400 for a bad `starting_after` cursor or a bad query,
  401 `Access Token Invalid` (without rate-limit headers), 404 for unknown paths, and a
  429 `rate_limit_exceeded` with `X-RateLimit-Limit/Remaining/Reset` and no `Retry-After`.
  https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting
- Every authenticated answer carries `X-RateLimit-Limit` (the 10-second window's share of
  the per-minute quota), `X-RateLimit-Remaining` and `X-RateLimit-Reset` (unix time of the
  window's end); going over the window's limit gets the 429.
- A request without `Intercom-Version` is answered as Intercom does (with the app's default
  version) and noted in `unversioned`, so tests can assert it never happens.

Records are plain dicts in `contacts` / `conversations`, ordered by (`created_at`, `id`)
with a keyset cursor, as Intercom's own cursors are. Tests edit them between runs with
`update` and `add`; `throttle_next` answers with 429s whose reset is counted from when
they are served, and `served` records when each request was answered and how. A corrupted
record (no `id`, a non-integer date) is still served: it matches every date filter, so
tests can see what the pipeline does with it.
"""

from __future__ import annotations

import base64
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeys.stand_ins.server import FakeAPI, Request, Response

DAY = 86_400
MAX_PER_PAGE = 150
LIST_DEFAULT_PER_PAGE = {"contacts": 10, "conversations": 20}
SEARCH_DEFAULT_PER_PAGE = {"contacts": 50, "conversations": 20}
LIST_SHAPE = {"contacts": ("list", "data"), "conversations": ("conversation.list", "conversations")}
DATE_FIELDS = {
    "contacts": {
        "created_at", "updated_at", "signed_up_at", "last_seen_at", "last_contacted_at",
        "last_replied_at", "last_email_opened_at", "last_email_clicked_at",
        "ios_last_seen_at", "android_last_seen_at",
    },
    "conversations": {
        "created_at", "updated_at", "waiting_since", "snoozed_until",
        "statistics.first_contact_reply_at", "statistics.first_assignment_at",
        "statistics.first_admin_reply_at", "statistics.first_close_at",
        "statistics.last_assignment_at", "statistics.last_assignment_admin_reply_at",
        "statistics.last_contact_reply_at", "statistics.last_admin_reply_at",
        "statistics.last_close_at", "conversation_rating.requested_at",
        "conversation_rating.replied_at",
    },
}
CONTACT_DATE_ERRORS = {"!=", ">=", "<=", "IN", "NIN"}
OPERATORS = {"=", "!=", "IN", "NIN", ">", "<", ">=", "<=", "~", "!~", "^", "$"}
CONVERSATION_OPERATORS = OPERATORS - {">=", "<="}
# 10 000 calls a minute per app, enforced in 10-second windows (the docs' example shows
# the window's share in X-RateLimit-Limit).
WINDOW_SECONDS = 10
DEFAULT_WINDOW_LIMIT = 1_667


class QueryError(ValueError):
    """A search body Intercom would refuse (400 `parameter_invalid`)."""


def error_list(code: str, message: str) -> dict:
    return {
        "type": "error.list",
        "request_id": str(uuid.uuid4()),
        "errors": [{"code": code, "message": message}],
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _lookup(record: dict, field: str) -> Any:
    value: Any = record
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _sort_key(record: dict) -> tuple[int, str]:
    created = record.get("created_at")
    return (created if _is_int(created) else 0, str(record.get("id", "")))


def encode_cursor(record: dict) -> str:
    """Intercom-like opaque cursor: base64 of `[created_at in ms, id]` of the last row."""
    created, record_id = _sort_key(record)
    return base64.b64encode(json.dumps([created * 1000, record_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        created_ms, record_id = json.loads(base64.b64decode(cursor, validate=True))
    except (ValueError, TypeError) as error:
        raise QueryError(cursor) from error
    if not _is_int(created_ms) or not isinstance(record_id, str):
        raise QueryError(cursor)
    return created_ms // 1000, record_id


class IntercomAPI(FakeAPI):
    """Intercom contacts and conversations over HTTP; see the module docstring."""

    def __init__(
        self,
        contacts: Iterable[dict] = (),
        conversations: Iterable[dict] = (),
        token: str = "test-intercom-token",
        workspace_utc_offset: int = 0,
        window_limit: int = DEFAULT_WINDOW_LIMIT,
    ) -> None:
        super().__init__()
        self.records: dict[str, list[dict]] = {
            "contacts": [dict(r) for r in contacts],
            "conversations": [dict(r) for r in conversations],
        }
        self.token = token
        self.workspace_utc_offset = workspace_utc_offset  # seconds east of UTC
        self.window_limit = window_limit
        self.unversioned: list[Request] = []
        self.served: list[tuple[float, Request, Response]] = []  # answered at (unix time)
        self._throttles: list[_Throttle] = []
        self._window: tuple[int, int] = (0, 0)  # (window end, requests in it)

    @classmethod
    def from_generated(cls, out_dir: Path, **kwargs: Any) -> IntercomAPI:
        """The dataset `journeys.generator.generate` wrote as list-API pages."""
        records: dict[str, list[dict]] = {}
        for kind, (_, key) in LIST_SHAPE.items():
            pages = sorted((out_dir / "intercom" / kind).glob("page-*.json"))
            records[kind] = [r for page in pages for r in json.loads(page.read_bytes())[key]]
        return cls(records["contacts"], records["conversations"], **kwargs)

    # -- test helpers ---------------------------------------------------------------
    @property
    def contacts(self) -> list[dict]:
        return self.records["contacts"]

    @property
    def conversations(self) -> list[dict]:
        return self.records["conversations"]

    def add(self, kind: str, record: dict) -> None:
        self.records[kind].append(dict(record))

    def update(self, kind: str, record_id: str, **fields: Any) -> dict:
        record = next(r for r in self.records[kind] if r.get("id") == record_id)
        record.update(fields)
        return record

    def rate_limited(self, reset_in: float = 0.5) -> Response:
        """The 429 Intercom sends over the limit: no Retry-After, and X-RateLimit-Reset (a
        whole unix second) at least `reset_in` seconds from now."""
        return self._too_many(math.ceil(time.time() + reset_in))

    def throttle_next(
        self,
        times: int = 1,
        reset_in: float = 0.5,
        when: Callable[[Request], bool] = lambda request: True,
    ) -> None:
        """Answer the next `times` matching requests with a 429 whose reset is counted from
        the moment it is served."""
        with self._lock:
            self._throttles.append(_Throttle(times, reset_in, when))

    def _too_many(self, reset_at: int) -> Response:
        return Response(
            429,
            error_list(
                "rate_limit_exceeded",
                f"Exceeded rate limit of {self.window_limit} in 10_seconds",
            ),
            {
                "X-RateLimit-Limit": str(self.window_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset_at),
            },
        )

    def searches(self, kind: str) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path == f"/{kind}/search"]

    # -- serving ----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        response = self._answer(request)
        with self._lock:
            self.served.append((time.time(), request, response))
        return response

    def _answer(self, request: Request) -> Response:
        if "intercom-version" not in request.headers:
            self.unversioned.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Response(401, error_list("unauthorized", "Access Token Invalid"))
        with self._lock:
            throttle = next(
                (t for t in self._throttles if t.remaining > 0 and t.when(request)), None
            )
            if throttle:
                throttle.remaining -= 1
        if throttle:
            return self.rate_limited(throttle.reset_in)
        limit_headers, over = self._count_in_window()
        if over:
            return self._too_many(int(limit_headers["X-RateLimit-Reset"]))
        response = self._route(request)
        response.headers.update(limit_headers)
        return response

    def _count_in_window(self) -> tuple[dict[str, str], bool]:
        now = int(time.time())
        end, used = self._window
        if now >= end:
            end, used = now - now % WINDOW_SECONDS + WINDOW_SECONDS, 0
        used += 1
        self._window = (end, used)
        headers = {
            "X-RateLimit-Limit": str(self.window_limit),
            "X-RateLimit-Remaining": str(max(0, self.window_limit - used)),
            "X-RateLimit-Reset": str(end),
        }
        return headers, used > self.window_limit

    def _route(self, request: Request) -> Response:
        kind = request.path.strip("/").split("/")[0]
        if kind not in self.records:
            return Response(404, error_list("not_found", "Resource Not Found"))
        try:
            if request.method == "GET" and request.path == f"/{kind}":
                per_page = request.param("per_page")
                return self._page(
                    kind,
                    self._sorted(kind),
                    int(per_page) if per_page else LIST_DEFAULT_PER_PAGE[kind],
                    request.param("starting_after"),
                )
            if request.method == "POST" and request.path == f"/{kind}/search":
                return self._search(kind, request.body)
        except QueryError as error:
            return Response(400, error_list("parameter_invalid", str(error)))
        except _BadCursor as error:
            return Response(
                400, error_list("client_error", f"Invalid starting_after param: {error}")
            )
        return Response(404, error_list("not_found", "Resource Not Found"))

    def _search(self, kind: str, body: Any) -> Response:
        if not isinstance(body, dict) or "query" not in body:
            raise QueryError("query is required")
        pagination = body.get("pagination") or {}
        matching = [r for r in self._sorted(kind) if self._matches(kind, r, body["query"], 0)]
        return self._page(
            kind,
            matching,
            pagination.get("per_page") or SEARCH_DEFAULT_PER_PAGE[kind],
            pagination.get("starting_after"),
        )

    def _sorted(self, kind: str) -> list[dict]:
        return sorted(self.records[kind], key=_sort_key)

    def _page(
        self, kind: str, records: list[dict], per_page: int, starting_after: str | None
    ) -> Response:
        per_page = max(1, min(int(per_page), MAX_PER_PAGE))
        start = 0
        if starting_after:
            try:
                after = decode_cursor(starting_after)
            except QueryError as error:
                raise _BadCursor(starting_after) from error
            start = next((i for i, r in enumerate(records) if _sort_key(r) > after), len(records))
        page = records[start : start + per_page]
        total = len(records)
        pages: dict[str, Any] = {
            "type": "pages",
            "page": start // per_page + 1,
            "per_page": per_page,
            "total_pages": -(-total // per_page),
        }
        if start + per_page < total:
            pages["next"] = {
                "page": start // per_page + 2,
                "starting_after": encode_cursor(page[-1]),
            }
        list_type, key = LIST_SHAPE[kind]
        return Response(200, {"type": list_type, key: page, "total_count": total, "pages": pages})

    # -- query evaluation ---------------------------------------------------------------
    def _matches(self, kind: str, record: dict, query: Any, depth: int) -> bool:
        if not isinstance(query, dict):
            raise QueryError("query must be an object")
        operator = query.get("operator")
        if operator in ("AND", "OR"):
            filters = query.get("value")
            if not isinstance(filters, list) or not filters:
                raise QueryError(f"{operator} needs a list of filters")
            if depth >= 2:
                raise QueryError("a maximum of 2 nested filters is allowed")
            if len(filters) > 15:
                raise QueryError("a maximum of 15 filters per AND/OR group is allowed")
            results = [self._matches(kind, record, f, depth + 1) for f in filters]
            return all(results) if operator == "AND" else any(results)
        return self._filter(kind, record, query)

    def _filter(self, kind: str, record: dict, query: dict) -> bool:
        field, operator, value = query.get("field"), query.get("operator"), query.get("value")
        if not isinstance(field, str) or operator not in OPERATORS:
            raise QueryError(f"unsupported filter {query!r}")
        if kind == "conversations" and operator not in CONVERSATION_OPERATORS:
            raise QueryError(f"operator {operator} is not supported")
        actual = _lookup(record, field)
        if field in DATE_FIELDS[kind]:
            if kind == "contacts" and operator in CONTACT_DATE_ERRORS:
                raise QueryError(f"operator {operator} is not supported on date field {field}")
            if not _is_int(value):
                raise QueryError(f"{field} accepts a date (unix timestamp), got {value!r}")
            if not _is_int(actual):
                return True  # a corrupted record is served to every date query (see above)
            if kind == "contacts":
                return self._day_match(actual, operator, value)
            return {"=": actual == value, "!=": actual != value, ">": actual >= value,
                    "<": actual <= value}.get(operator, False)
        return _plain_match(actual, operator, value)

    def _day_start(self, ts: int) -> int:
        offset = self.workspace_utc_offset
        return (ts + offset) // DAY * DAY - offset

    def _day_match(self, actual: int, operator: str, value: int) -> bool:
        day = self._day_start(value)
        if operator == "=":
            return day <= actual < day + DAY
        if operator == ">":
            return actual >= day + DAY
        return actual < day  # "<"


class _BadCursor(ValueError):
    pass


@dataclass
class _Throttle:
    remaining: int
    reset_in: float
    when: Callable[[Request], bool]


def _plain_match(actual: Any, operator: str, value: Any) -> bool:
    if operator in ("IN", "NIN"):
        if not isinstance(value, list):
            raise QueryError(f"{operator} needs an array value")
        return (actual in value) == (operator == "IN")
    if operator in ("=", "!="):
        return (actual == value) == (operator == "=")
    if operator in (">", "<", ">=", "<="):
        if not _is_int(value):
            raise QueryError(f"{operator} needs an integer value")
        if not _is_int(actual):
            return False
        return {">": actual > value, "<": actual < value, ">=": actual >= value,
                "<=": actual <= value}[operator]
    text, needle = str(actual or ""), str(value)
    return {"~": needle in text, "!~": needle not in text, "^": text.startswith(needle),
            "$": text.endswith(needle)}[operator]
