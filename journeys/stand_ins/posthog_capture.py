"""PostHog's event capture endpoints as the SDKs post to them, recording what arrives.

`POST /batch/` (posthog-python's default) takes `{"api_key", "batch": [event, ...],
"historical_migration", "sent_at"}`; `/e/`, `/i/v0/e/` and `/capture/` take one event
with its `api_key`. A body may be gzip-compressed (`Content-Encoding: gzip`, the SDK's
`gzip=True`); it is decoded before it is recorded. A wrong or missing project API key is
answered 401 as PostHog does; an accepted request `{"status": 1}`.

    with PostHogCapture(api_key="phc_test") as posthog:
        tracker = Tracker(host=posthog.base_url, api_key="phc_test")
        ...
        assert posthog.events[0]["event"] == "signed_up"
"""

from __future__ import annotations

import gzip
import io
from http.server import BaseHTTPRequestHandler
from typing import Any

from journeys.stand_ins.server import FakeAPI, Request, Response

BATCH_PATHS = frozenset({"/batch", "/batch/"})
SINGLE_EVENT_PATHS = frozenset({"/e", "/e/", "/i/v0/e", "/i/v0/e/", "/capture", "/capture/"})
INVALID_KEY = {
    "type": "authentication_error",
    "code": "invalid_api_key",
    "detail": "Project API key invalid. You can find your project API key in PostHog "
              "project settings.",
    "attr": None,
}


class PostHogCapture(FakeAPI):
    """Records every accepted capture request (`bodies`) and its events (`events`)."""

    def __init__(self, api_key: str = "phc_test_project_key") -> None:
        super().__init__()
        self.api_key = api_key
        self.bodies: list[dict[str, Any]] = []

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every accepted event, in arrival order, as PostHog received it."""
        with self._lock:
            return [event for body in self.bodies
                    for event in (body.get("batch") or [] if "batch" in body else [body])]

    def reset(self) -> None:
        """Forget what arrived (between tests sharing one server)."""
        with self._lock:
            self.bodies.clear()
            self.requests.clear()

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path not in BATCH_PATHS | SINGLE_EVENT_PATHS:
            return Response(404, {"type": "invalid_request", "code": "not_found",
                                  "detail": "Not found.", "attr": None})
        body = request.body
        if not isinstance(body, dict):
            return Response(400, {"type": "validation_error", "code": "invalid_payload",
                                  "detail": "Malformed request data", "attr": None})
        if body.get("api_key", body.get("token")) != self.api_key:
            return Response(401, INVALID_KEY)
        if request.path in BATCH_PATHS and not isinstance(body.get("batch"), list):
            return Response(400, {"type": "validation_error", "code": "invalid_payload",
                                  "detail": "batch must be a list", "attr": None})
        with self._lock:
            self.bodies.append(body)
        return Response(200, {"status": 1})

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        # gunzip the body before the base class reads it as JSON; the original stream is
        # put back for the next request on this keep-alive connection
        if handler.headers.get("Content-Encoding", "").lower() != "gzip":
            super()._dispatch(handler)
            return
        length = int(handler.headers.get("Content-Length") or 0)
        decoded = gzip.decompress(handler.rfile.read(length)) if length else b""
        stream = handler.rfile
        handler.rfile = io.BytesIO(decoded)
        handler.headers.replace_header("Content-Length", str(len(decoded)))
        try:
            super()._dispatch(handler)
        finally:
            handler.rfile = stream
