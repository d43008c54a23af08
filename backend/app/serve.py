"""Serve the API with worker processes that share the load: ``uv run python -m app.serve``.

``uvicorn --workers N`` binds one listening socket in its parent and every worker accepts
from it; a worker that wakes for it accepts every connection pending at the time, so a burst
of new keep-alive connections can all land on one worker (200 of 200 in two of three runs of
the load benchmark) while the other cores idle. Here every worker
binds its own socket on the address with ``SO_REUSEPORT`` and the kernel spreads new
connections over them by a hash of the client's address and port. uvicorn's supervisor
still starts, health-checks and restarts the workers; one worker is plain uvicorn.

Each worker serves HTTP with app.api.protocols' httptools protocol (request heads over the
limits refused as they arrive) and without uvicorn's X-Forwarded-For handling, which would
trust 127.0.0.1: the app believes forwarded addresses from TRUSTED_PROXIES only.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "app.main:app"
HTTP_PROTOCOL = "app.api.protocols:LimitedHttpToolsProtocol"
LISTEN_BACKLOG = 2048  # uvicorn's default


def bind_listener(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to (host, port) and listening. proto=IPPROTO_TCP, not 0: asyncio's
    loop sets TCP_NODELAY on accepted connections only when the listener says TCP."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class PerWorkerListener(socket.socket):
    """Stands in for the listening socket uvicorn's supervisor hands to each worker: sent
    to a worker process, it arrives as a new socket of that worker's own, bound with
    SO_REUSEPORT. The parent's copy is never bound, so no connection waits on it."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.address = (host, port)

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.address
        return (_reuse_port_listener, (host, port))


def _reuse_port_listener(host: str, port: int) -> socket.socket:
    return bind_listener(host, port, reuse_port=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="processes (one per core)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and args.port == 0:
        parser.error("--port 0 would give each worker a port of its own: name a port")
    return args


def refuse_a_served_address(host: str, port: int) -> str | None:
    """Why ``(host, port)`` cannot be served, or None. A bind without SO_REUSEPORT fails
    while any socket listens there, with SO_REUSEPORT or not: the workers' own binds would
    not (SO_REUSEPORT lets another copy of this server, run by the same user, bind beside
    it and silently take part of its connections)."""
    if port == 0:
        return None  # a port of the kernel's choice is free by definition
    try:
        bind_listener(host, port, reuse_port=False).close()
    except OSError as exc:
        return (
            f"cannot listen on {host}:{port}: {exc.strerror} (another server already listens "
            "there?): stop it or choose another --port"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Fail here, once, if the address is taken, rather than in every worker over and over.
    if (refused := refuse_a_served_address(args.host, args.port)) is not None:
        print(f"error: {refused}", file=sys.stderr)
        return 1
    config = uvicorn.Config(
        APP,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        http=HTTP_PROTOCOL,
        proxy_headers=False,
    )
    if args.workers == 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 1
    print(
        f"serving {APP} on http://{args.host}:{args.port} with {args.workers} workers",
        file=sys.stderr,
    )
    Multiprocess(config, sockets=[PerWorkerListener(args.host, args.port)]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
