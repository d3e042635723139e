"""Answers whose JSON body was cut off, for the HTTP API sources (HubSpot, Intercom).

A proxy, a load balancer or the vendor itself can end an answer early while its status
(200) and its Content-Length still look right, so no connection error is raised and dlt
does not retry it: the page then fails to parse with a bare `JSONDecodeError` that names
neither the endpoint nor what to do. `raise_if_cut_off` runs as a response hook, inside
dlt's retrying `Session.send`, and turns such an answer into a `CutOffResponse`, a
`ChunkedEncodingError`: dlt retries it exactly like a dropped connection (SOURCES.md 5.2,
`RUNTIME__REQUEST_MAX_ATTEMPTS` attempts, exponential backoff). When every attempt is cut
off, the run stops with its message: the source, the endpoint, and what to do. The
message holds the method and the path only, never the query string or a header, so no
token can reach it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from requests import Response
from requests.exceptions import ChunkedEncodingError, JSONDecodeError

NO_BODY = frozenset({204, 304})  # answers that have no body by definition


class CutOffResponse(ChunkedEncodingError):
    """An answer below 400 whose body is not complete JSON; retried like a dropped
    connection, and its message says where and what to do when that does not help."""


def raise_if_cut_off(response: Response, source: str) -> None:
    """Raise `CutOffResponse` when `response` (status below 400) does not carry complete
    JSON. Errors (400 and up) are left to the source's own error hook."""
    if response.status_code >= 400 or response.status_code in NO_BODY:
        return
    try:
        response.json()  # the parser the page is read with later, so nothing else is refused
    except JSONDecodeError as error:
        method = response.request.method if response.request is not None else "?"
        endpoint = f"{method} {urlsplit(response.url).path}"
        raise CutOffResponse(
            f"{source}: {endpoint} answered HTTP {response.status_code} with a cut-off JSON "
            f"body ({len(response.content)} bytes; {error}), still after dlt's retries "
            "(RUNTIME__REQUEST_MAX_ATTEMPTS). Something between here and the API is ending "
            "answers early (a proxy or gateway with a size or time limit, an unstable "
            "network): check it and run again. The cursor did not move, so the next run "
            "reads this page again and nothing is lost or loaded twice.",
            request=response.request,
            response=response,
        ) from None

