"""The request policy as one pure ASGI layer, the outermost of the app (app.main): every
response, the app's 500s included, passes through it.

Per request it looks once over the request headers, then: refuses a head over the limits
(414/431, for servers without app.api.protocols), takes the client's address from
X-Forwarded-For when the peer is a trusted proxy, refuses a body over the limit (413, by
its Content-Length before anything is read, or as a chunked body passes the limit), and
adds the policy's headers to the response (app.api.policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.policy import (
    API_CSP,
    HTML_CSP,
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    MAX_TARGET_BYTES,
    NO_STORE,
    SECURITY_HEADERS,
    Refusal,
    body_too_large,
    head_refusal,
    refusal_body,
)

Network = IPv4Network | IPv6Network
_REPLACED = frozenset(name for name, _ in SECURITY_HEADERS)
_FORWARDED_SCHEMES = {b"http": "http", b"https": "https"}


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed
    (``TRUSTED_PROXIES``)."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPv4Address | IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[bytes]) -> str:
        """The client's address: walking X-Forwarded-For from the right (the entry our own
        proxy appended), the first address that is not a trusted proxy. An entry that is
        not an address stops the walk: the hop before it is the last one vouched for."""
        hops = [hop for value in forwarded_for for hop in value.decode("latin-1").split(",")]
        client = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break
            client = str(address)
            if not self.trusts(address):
                break
        return client


class RequestPolicy:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, trusted_proxies: Sequence[Network] = ()
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.proxies = TrustedProxies(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        size = 0
        length: bytes | None = None
        chunked = credentials = False
        for name, value in headers:
            size += len(name) + len(value)
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"authorization":
                credentials = True

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_policy(message["headers"], credentials)}
            await send(message)

        refusal = None
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if len(headers) > MAX_HEADER_FIELDS or size > MAX_HEADER_BYTES or target > MAX_TARGET_BYTES:
            refusal = head_refusal(target, headers)
        announced = int(length) if length is not None and length.isdigit() else None
        if refusal is None and announced is not None and announced > self.max_body_bytes:
            refusal = Refusal(413, body_too_large(self.max_body_bytes))
        if refusal is not None:
            await _refuse(send_with_policy, refusal)
            return
        if self.proxies:
            self._forwarded(scope, headers)
        if chunked or (length is not None and announced is None):
            receive = self._limited(receive)
        await self.app(scope, receive, send_with_policy)

    def _forwarded(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
        """From a trusted proxy: the client's address and scheme as the proxy reports them."""
        peer = scope.get("client")
        if not peer or not self.proxies.trusts(_address(peer[0])):
            return
        forwarded = [value for name, value in headers if name == b"x-forwarded-for"]
        if forwarded:
            scope["client"] = (self.proxies.client(peer[0], forwarded), 0)
        for name, value in headers:
            if name == b"x-forwarded-proto" and value.strip().lower() in _FORWARDED_SCHEMES:
                scope["scheme"] = _FORWARDED_SCHEMES[value.strip().lower()]

    def _limited(self, receive: Receive) -> Receive:
        """``receive`` that stops a body of unannounced length at the limit: the 413 goes
        through the app's error handlers (FastAPI re-raises an HTTPException met while it
        reads a body)."""
        limit = self.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, body_too_large(limit), {"Connection": "close"})
            return message

        return limited_receive


def _with_policy(
    headers: Iterable[tuple[bytes, bytes]], credentials: bool
) -> list[tuple[bytes, bytes]]:
    """The response's headers with the policy's: the security headers (replacing any the
    app set), a Content-Security-Policy unless the response has its own, and no-store for
    an answer to a request that carried credentials."""
    kept = []
    policy: bytes | None = None
    html = False
    for name, value in headers:
        lowered = name.lower()
        if lowered in _REPLACED or (credentials and lowered == b"cache-control"):
            continue
        if lowered == b"content-security-policy":
            policy = value
        elif lowered == b"content-type":
            html = value[:9].lower() == b"text/html"
        kept.append((name, value))
    kept += SECURITY_HEADERS
    if policy is None:
        kept.append((b"content-security-policy", HTML_CSP if html else API_CSP))
    if credentials:
        kept.append((b"cache-control", NO_STORE))
    return kept


async def _refuse(send: Send, refusal: Refusal) -> None:
    """Answer without calling the app (nothing of the body is read) and close."""
    body = refusal_body(refusal)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
