"""A real HTTP server on 127.0.0.1 for standing in for SaaS APIs in tests.

Subclasses implement `handle(request) -> Response` with the vendor's documented shapes;
this base records every request and injects faults (rate limits, 5xx, dropped
connections, bodies cut short) in front of the handler, so the code under test talks plain HTTP to a
configurable base URL and cannot tell it from the real service.

    with HubSpotAPI(records) as api:
        api.fail_next(2, status=429, body={...})          # next two requests
        api.fail_next(1, status=500, when=lambda r: r.path.endswith("/search"))
        run_pipeline(base_url=api.base_url)
        assert api.count("POST", "/crm/v3/objects/contacts/search") == 4
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # decoded JSON, raw text, or None

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    remaining: int
    response: Response | None  # None: drop the connection without answering
    when: Callable[[Request], bool]
    keep: float | None = None  # answer as usual, but send only this share of the body


class FakeAPI:
    """Threaded HTTP server; subclass and implement `handle`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                api._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------
    def fail_next(self, times: int = 1, status: int = 500, body: Any = None,
                  headers: dict[str, str] | None = None,
                  when: Callable[[Request], bool] = lambda request: True) -> None:
        """Answer the next `times` matching requests with this response instead."""
        with self._lock:
            self._faults.append(Fault(times, Response(status, body, headers or {}), when))

    def drop_next(self, times: int = 1,
                  when: Callable[[Request], bool] = lambda request: True) -> None:
        """Close the connection without an answer (a reset mid-pagination)."""
        with self._lock:
            self._faults.append(Fault(times, None, when))

    def truncate_next(self, times: int = 1, keep: float = 0.5,
                      when: Callable[[Request], bool] = lambda request: True) -> None:
        """Answer the next `times` matching requests as usual (status, headers, JSON
        content type) but with only the first `keep` share of the body, its
        Content-Length saying so: a body cut off upstream, not a dropped connection."""
        with self._lock:
            self._faults.append(Fault(times, None, when, keep))

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(1 for r in self.requests
                   if (method is None or r.method == method) and (path is None or r.path == path))

    # -- to implement ------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    # -- plumbing ----------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        request = Request(handler.command, url.path, parse_qs(url.query),
                          {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.requests.append(request)
            fault = next((f for f in self._faults if f.remaining > 0 and f.when(request)), None)
            if fault:
                fault.remaining -= 1
        if fault and fault.keep is not None:
            self._send(handler, self._cut(self._safe_handle(request), fault.keep))
            return
        if fault and fault.response is None:
            handler.close_connection = True
            handler.connection.close()
            return
        response = fault.response if fault else self._safe_handle(request)
        self._send(handler, response)

    def _safe_handle(self, request: Request) -> Response:
        try:
            return self.handle(request)
        except Exception as error:  # a bug in a fake must show up as a 500, not a hang
            return Response(500, {"error": f"fake server bug: {error!r}"})

    @staticmethod
    def _cut(response: Response, keep: float) -> Response:
        body = response.body
        payload = json.dumps(body).encode() if isinstance(body, dict | list) else (
            body.encode() if isinstance(body, str) else body or b"")
        headers = {"Content-Type": "application/json", **response.headers}
        return Response(response.status, payload[:int(len(payload) * keep)], headers)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: Response) -> None:
        # headers and body go out in two writes; without TCP_NODELAY the body waits for
        # the client's delayed ACK (tens of ms a request)
        handler.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = response.body
        if isinstance(body, dict | list):
            payload = json.dumps(body).encode()
            content_type = "application/json"
        elif isinstance(body, str):
            payload, content_type = body.encode(), "text/plain"
        else:
            payload, content_type = (body or b""), "application/octet-stream"
        handler.send_response(response.status)
        headers = {"Content-Type": content_type, **response.headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
