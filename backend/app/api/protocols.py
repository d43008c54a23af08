"""uvicorn's HTTP protocols with the request-head limits of app.api.policy, enforced while
the head arrives: an oversized head is answered 431 (414 for the URL) and the connection
closed before the head is read whole. Under httptools a header field reaches the protocol
only once it is complete (httptools gathers it first, copying it for every read), so the
bytes of a head still arriving are counted as they are read; a complete head is then
measured exactly.

``python -m app.serve`` serves with :class:`LimitedHttpToolsProtocol` and without uvicorn's
own X-Forwarded-For handling (app.api.middleware applies ``TRUSTED_PROXIES`` instead). A
plain ``uvicorn app.main:app`` (one worker, ``--workers``, ``--reload``, ``--http h11``)
gets the same: importing app.main calls :func:`adopt_loading_uvicorn_config`, which finds
the uvicorn Config that is importing the app and swaps in the limited protocol and turns
its proxy headers off before uvicorn uses either. uvicorn offers no hook for this: it
creates its protocol and wraps the app in its proxy-headers middleware after importing the
app, from the Config's fields, which is what makes the swap work (the tests that serve the
app both ways would catch a uvicorn that changed this).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.api.policy import (
    HEADERS_REFUSAL,
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    MAX_TARGET_BYTES,
    MAX_UNFINISHED_HEAD_BYTES,
    TARGET_REFUSAL,
    Refusal,
    head_refusal,
    refusal_response,
)

logger = logging.getLogger(__name__)

INVALID_REQUEST = Refusal(400, "invalid HTTP request")
UVICORN_DEFAULT_FORWARDED = "127.0.0.1,::1"


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing an oversized request head as it arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._in_head = False
        self._unfinished = 0  # bytes of the reads that ended inside the current head
        self._target = 0
        self._fields = 0
        self._field_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request, arriving until the close
        super().data_received(data)
        if self._in_head and not self._refused:
            # May count the tail of a previous pipelined request too: never less than the head.
            self._unfinished += len(data)
            if self._unfinished > MAX_UNFINISHED_HEAD_BYTES:
                self._refuse(HEADERS_REFUSAL)

    def on_message_begin(self) -> None:
        if self._refused:
            return
        self._in_head = True
        self._unfinished = self._target = self._fields = self._field_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        self._target += len(url)
        if self._target > MAX_TARGET_BYTES:
            self._refuse(TARGET_REFUSAL)
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._fields += 1
        self._field_bytes += len(name) + len(value)
        if self._fields > MAX_HEADER_FIELDS or self._field_bytes > MAX_HEADER_BYTES:
            self._refuse(HEADERS_REFUSAL)
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request httptools cannot parse, with the policy's headers."""
        if not self._refused:
            self._refuse(INVALID_REQUEST)

    def _refuse(self, refusal: Refusal) -> None:
        self._refused = True
        _answer_and_close(self, refusal)


class _LimitedH11Connection(h11.Connection):
    """h11's connection, refusing a complete head over the limits (h11 itself refuses one
    that grows past its incomplete-event size while it arrives)."""

    refusal: Refusal | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = HEADERS_REFUSAL if exc.error_status_hint == 431 else INVALID_REQUEST
            raise
        if isinstance(event, h11.Request):
            self.refusal = head_refusal(len(event.target), list(event.headers))
            if self.refusal is not None:
                raise h11.RemoteProtocolError(self.refusal.detail, self.refusal.status)
        return event


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol (``--http h11``) with the same limits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _LimitedH11Connection(h11.SERVER, MAX_UNFINISHED_HEAD_BYTES)

    def send_400_response(self, msg: str) -> None:
        _answer_and_close(self, getattr(self.conn, "refusal", None) or INVALID_REQUEST)


def _answer_and_close(protocol: HttpToolsProtocol | H11Protocol, refusal: Refusal) -> None:
    """Send the refusal and close the connection. Not while an earlier pipelined request's
    response is still going out: the two would interleave, so that connection just closes."""
    client = protocol.client
    peer = f"{client[0]}:{client[1]}" if client else "an unknown peer"
    logger.info("refused a request from %s: %s", peer, refusal.detail)
    cycle = protocol.cycle
    if cycle is None or cycle.response_complete:
        default_headers = protocol.server_state.default_headers
        protocol.transport.write(refusal_response(refusal, default_headers))
    protocol.transport.close()


LIMITED_PROTOCOLS: dict[str | type[Any], type[Any]] = {
    "auto": LimitedHttpToolsProtocol,  # httptools is installed with the project
    "httptools": LimitedHttpToolsProtocol,
    "h11": LimitedH11Protocol,
    HttpToolsProtocol: LimitedHttpToolsProtocol,
    H11Protocol: LimitedH11Protocol,
}
"""uvicorn's protocols (by ``--http`` name, or as resolved) and their limited twins."""


def _limited(protocol: str | type[Any]) -> str | type[Any]:
    if protocol in LIMITED_PROTOCOLS.values():
        return protocol
    if protocol in LIMITED_PROTOCOLS:
        return LIMITED_PROTOCOLS[protocol]
    logger.warning(
        "HTTP protocol %s has no head limits of ours: oversized heads are refused only after "
        "they are read (serve with httptools or h11)",
        protocol,
    )
    return protocol


def apply_request_policy(config: uvicorn.Config) -> None:
    """Have a uvicorn Config serve under the request policy: the limited twin of its
    protocol, and no proxy headers of uvicorn's (the app's middleware resolves them from
    TRUSTED_PROXIES, the one setting for it). Works before and during ``Config.load``."""
    if config.proxy_headers and config.forwarded_allow_ips != UVICORN_DEFAULT_FORWARDED:
        logger.warning(
            "uvicorn's --forwarded-allow-ips is not used: list the proxies in TRUSTED_PROXIES"
        )
    config.proxy_headers = False
    if "http_protocol_class" in vars(config):  # load() has resolved the protocol already
        config.http_protocol_class = _limited(config.http_protocol_class)  # type: ignore[assignment]
    else:
        config.http = _limited(config.http)


_IMPORTING_APP = (uvicorn.Config.load.__code__, uvicorn.Config.load_app.__code__)
"""uvicorn imports the app in these (``uvicorn.run`` imports it once early to fail fast)."""


def adopt_loading_uvicorn_config() -> None:
    """If uvicorn is importing the app right now (``uvicorn app.main:app``, and each of its
    workers and reloads), apply the request policy to the Config doing it."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code in _IMPORTING_APP:
            config = frame.f_locals.get("self")
            if isinstance(config, uvicorn.Config):
                apply_request_policy(config)
            return
        frame = frame.f_back  # type: ignore[assignment]
