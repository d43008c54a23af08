"""How uvicorn serves the app: the event loop it picks keeps TCP_NODELAY under --workers."""

from __future__ import annotations

import asyncio
import socket

import uvicorn


class _ReportNoDelay(asyncio.Protocol):
    def __init__(self, seen: asyncio.Future[int]) -> None:
        self._seen = seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        self._seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        transport.close()


async def _nodelay_of_an_accepted_connection(listener: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[int] = loop.create_future()
    server = await loop.create_server(lambda: _ReportNoDelay(seen), sock=listener)
    try:
        host, port = listener.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
    finally:
        server.close()


def test_the_default_loop_sets_tcp_nodelay_on_a_socket_bound_as_workers_bind_it() -> None:
    """``uvicorn --workers N`` binds the socket itself with proto 0, and asyncio's own loop
    then leaves Nagle's algorithm on: every response on a kept-alive connection waits ~40 ms
    for the client's delayed ACK. uvloop (uvicorn's choice when installed) sets TCP_NODELAY
    on every accepted TCP connection."""
    config = uvicorn.Config("app.main:app", host="127.0.0.1", port=0, loop="auto")
    listener = config.bind_socket()
    assert listener.proto == 0  # the pre-bound socket the workers get
    loop_factory = config.get_loop_factory()
    assert loop_factory is not None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.get_loop().__class__.__module__.startswith("uvloop")
        assert runner.run(_nodelay_of_an_accepted_connection(listener)) != 0
