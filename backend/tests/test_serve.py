"""``python -m app.serve``: every worker accepts connections from a listening socket of its
own, so the kernel spreads new connections over the workers."""

from __future__ import annotations

import pickle
import socket
import sys
from collections import Counter
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import httpx
import psutil
import pytest

from app.serve import PerWorkerListener, bind_listener, parse_args
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import free_port, uvicorn_app


def test_a_worker_gets_a_new_reuse_port_listener_of_its_own() -> None:
    """What the supervisor sends each worker arrives as a listening socket bound to the
    address with SO_REUSEPORT, one per worker; the parent's stand-in listens on nothing."""
    port = free_port()
    stand_in = PerWorkerListener("127.0.0.1", port)
    sent = bytes(ForkingPickler.dumps(stand_in))  # as multiprocessing sends it to a child
    first, second = pickle.loads(sent), pickle.loads(sent)
    try:
        for sock in (first, second):
            assert sock.getsockname() == ("127.0.0.1", port)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY on its clients
        assert first.fileno() != second.fileno()
        assert stand_in.getsockname()[1] == 0
    finally:
        for sock in (first, second, stand_in):
            sock.close()


def test_a_listener_without_reuse_port_keeps_the_address_to_itself() -> None:
    held = bind_listener("127.0.0.1", 0, reuse_port=False)
    try:
        with pytest.raises(OSError):
            bind_listener("127.0.0.1", held.getsockname()[1], reuse_port=True).close()
    finally:
        held.close()


def test_several_workers_need_a_named_port() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--workers", "2", "--port", "0"])


@pytest.mark.slow  # child processes
def test_two_workers_each_listen_and_each_serve_connections(
    database: TestDatabase, tmp_path: Path
) -> None:
    """The documented ``python -m app.serve --workers 2``: two worker processes, each with
    its own listening socket, and 40 kept-alive connections spread over both (with one
    shared socket, connections opened together mostly land on one worker)."""
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "app.serve", "--workers", "2"]
    with uvicorn_app(subprocess_env(database), log, command) as base:
        port = int(base.rsplit(":", 1)[1])
        clients = [httpx.Client(base_url=base, timeout=10) for _ in range(40)]
        try:
            for client in clients:
                assert client.get("/health").status_code == 200  # kept alive
            db_health = clients[0].get("/health/db")
            assert db_health.status_code == 200, db_health.text
            listening: Counter[int] = Counter()
            serving: Counter[int] = Counter()
            for conn in psutil.net_connections(kind="tcp"):
                if conn.laddr and conn.laddr.port == port and conn.pid is not None:
                    (listening if conn.status == psutil.CONN_LISTEN else serving)[conn.pid] += 1
        finally:
            for client in clients:
                client.close()
    assert len(listening) == 2 and set(listening.values()) == {1}, listening  # two workers
    assert set(serving) == set(listening), serving
    assert serving.total() >= 40
    assert "Traceback" not in log.read_text()
