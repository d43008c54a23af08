"""A TCP proxy on 127.0.0.1 in front of a PostgreSQL server, to break the database on cue.

The app under test connects to the proxy instead of the server; the proxy forwards bytes
until told to fail the way a sick database does, without touching the shared server:

* :meth:`FaultProxy.stop` - a stopped server: every connection is cut (RST) and new ones
  are refused;
* :meth:`FaultProxy.hang` - a hung server (SIGSTOP): connections are accepted and kept,
  but nothing is forwarded either way, so clients wait for answers that never come;
* :meth:`FaultProxy.reject_startup` - new connections get the server's own FATAL error
  for a startup message, e.g. 57P03 "the database system is starting up";
* :meth:`FaultProxy.restore` - forward again (hung connections resume where they were).

It runs its own event loop in a thread, so synchronous code (perf scripts) and async tests
alike can use it; every method is safe to call from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy.engine import URL

Mode = Literal["forward", "hang", "reject"]
T = TypeVar("T")

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CHUNK = 64 * 1024


def _error_response(sqlstate: str, message: str) -> bytes:
    """A PostgreSQL ErrorResponse message, as the server sends it before closing."""
    fields = b"".join(
        code + text.encode() + b"\0"
        for code, text in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


class FaultProxy:
    """Forward 127.0.0.1:<port> to ``upstream`` (host and port, or a Unix socket path)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._mode: Mode = "forward"
        self._flowing = asyncio.Event()
        self._reject: tuple[str, str] = ("57P03", "the database system is starting up")
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self.port = 0

    @classmethod
    def for_url(cls, url: URL) -> FaultProxy:
        """A proxy in front of the server ``url`` names (TCP, or the ?host= socket dir)."""
        socket_dir = url.query.get("host")
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):
            return cls(f"{socket_dir}/.s.PGSQL.{url.port or 5432}", 0)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def url(self, url: URL) -> URL:
        """``url`` pointed at this proxy (same role, password and database)."""
        query = {k: v for k, v in url.query.items() if k != "host"}
        return url.set(host="127.0.0.1", port=self.port, query=query)

    # -- control (any thread) -------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        self._loop.call_soon_threadsafe(self._flowing.set)
        return self

    def stop(self) -> None:
        """Cut every connection and refuse new ones."""
        self._call(self._stop())

    def hang(self) -> None:
        """Accept and hold connections, forward nothing."""
        self._call(self._set_mode("hang"))

    def reject_startup(self, sqlstate: str, message: str) -> None:
        """Cut every connection; answer each new one's startup with this FATAL error."""
        self._reject = (sqlstate, message)
        self._call(self._stop())
        self._call(self._set_mode("reject"))
        self._call(self._listen())

    def restore(self) -> None:
        """Forward again; connections held by :meth:`hang` carry on."""
        self._call(self._set_mode("forward"))
        self._call(self._listen())

    def close(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    @property
    def connections(self) -> int:
        return len(self._links)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # -- the loop's side ------------------------------------------------------------------

    async def _set_mode(self, mode: Mode) -> None:
        self._mode = mode
        if mode == "hang":
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for client, upstream in list(self._links):
            for writer in (client, upstream):
                if writer is not None:
                    writer.transport.abort()
        self._links.clear()
        self._mode = "forward"
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode == "reject":
            await self._answer_startup_with_error(reader, writer)
            return
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._links.add(link)
        try:
            await self._flowing.wait()  # a hung server accepts, then never answers
            host, port = self._upstream
            if host.startswith("/"):
                up_reader, up_writer = await asyncio.open_unix_connection(host)
            else:
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.transport.abort()
            self._links.discard(link)
            return
        if link not in self._links:  # stopped meanwhile
            up_writer.transport.abort()
            return
        self._links.discard(link)
        link = (writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            self._links.discard(link)
            for end in (writer, up_writer):
                end.transport.abort()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await source.read(_CHUNK):
                await self._flowing.wait()
                sink.write(chunk)
                await sink.drain()
        sink.transport.abort()

    async def _answer_startup_with_error(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read the (SSL/GSS request and) startup message, answer with the FATAL error."""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                length = struct.unpack("!I", await reader.readexactly(4))[0]
                payload = await reader.readexactly(length - 4)
                code = struct.unpack("!I", payload[:4])[0] if len(payload) >= 4 else 0
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    writer.write(b"N")  # no encryption: the client sends its startup next
                    await writer.drain()
                    continue
                writer.write(_error_response(*self._reject))
                await writer.drain()
                break
        writer.close()


@contextmanager
def fault_proxy(url: URL) -> Iterator[FaultProxy]:
    """A started :class:`FaultProxy` in front of ``url``'s server, closed afterwards."""
    proxy = FaultProxy.for_url(url).start()
    try:
        yield proxy
    finally:
        proxy.close()
