"""What every request and every response is held to: the limits on a request's size and the
headers each response carries, stated once here.

Two layers enforce them. The server's HTTP protocol (app.api.protocols) refuses an oversized
request head while it arrives, before it is read whole. The ASGI middleware
(app.api.middleware) refuses oversized bodies before they are read, sets the response
headers, and checks the head limits again for servers that run without our protocol.
"""

from __future__ import annotations

import http
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_HEADER_FIELDS = 100
MAX_HEADER_BYTES = 16 * 1024
"""Names and values of all header fields together."""
MAX_TARGET_BYTES = 8 * 1024
"""The request target: path and query string."""
MAX_UNFINISHED_HEAD_BYTES = 32 * 1024
"""A head still incomplete after this many bytes is refused at once, before its last
field is complete (a complete head is measured exactly, against the limits above)."""

HEAD_TOO_LARGE = (
    f"request headers too large: at most {MAX_HEADER_FIELDS} fields and {MAX_HEADER_BYTES} bytes"
)
TARGET_TOO_LONG = f"request URL too long: at most {MAX_TARGET_BYTES} bytes"


@dataclass(frozen=True)
class Refusal:
    """A request answered with an error before the app sees it."""

    status: int
    detail: str


HEADERS_REFUSAL = Refusal(431, HEAD_TOO_LARGE)
TARGET_REFUSAL = Refusal(414, TARGET_TOO_LONG)


def head_refusal(target_bytes: int, headers: Sequence[tuple[bytes, bytes]]) -> Refusal | None:
    """The refusal a complete request head earns, if any."""
    if target_bytes > MAX_TARGET_BYTES:
        return TARGET_REFUSAL
    if len(headers) > MAX_HEADER_FIELDS:
        return HEADERS_REFUSAL
    if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
        return HEADERS_REFUSAL
    return None


def body_too_large(limit: int) -> str:
    return f"request body too large: at most {limit} bytes"


# -------------------------------------------------------------------- response headers

API_CSP = b"default-src 'none'; frame-ancestors 'none'"
"""Non-HTML responses: a JSON document opened in a browser may load nothing, be framed by
no one."""
HTML_CSP = (
    b"default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    b"frame-ancestors 'none'"
)
"""HTML responses that bring no policy of their own: same-origin files only, no inline
script."""
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors' predecessor, for older browsers
    (b"referrer-policy", b"no-referrer"),
)
"""Every response, from the app or the server."""
NO_STORE = b"no-store"
"""Cache-Control of every response to a request that carries credentials."""


def refusal_body(refusal: Refusal) -> bytes:
    return json.dumps({"detail": refusal.detail}).encode()


def refusal_response(refusal: Refusal, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> bytes:
    """A whole HTTP/1.1 response for ``refusal``, as the app words its errors (JSON
    ``detail``), with the security headers; the connection closes after it."""
    body = refusal_body(refusal)
    phrase = http.HTTPStatus(refusal.status).phrase.encode()
    lines = [b"HTTP/1.1 %d %s" % (refusal.status, phrase)]
    headers = [
        *extra_headers,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *SECURITY_HEADERS,
        (b"content-security-policy", API_CSP),
    ]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
