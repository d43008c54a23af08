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

from app.serve import PerWorkerListener, bind_listener, main, parse_args
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import free_port, run_python, uvicorn_app


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


def test_a_listener_with_reuse_port_keeps_the_address_from_a_plain_bind() -> None:
    """What the start-up check relies on: another copy's SO_REUSEPORT listener does not
    let a bind without it through."""
    held = bind_listener("127.0.0.1", 0, reuse_port=True)
    try:
        with pytest.raises(OSError):
            bind_listener("127.0.0.1", held.getsockname()[1], reuse_port=False).close()
    finally:
        held.close()


def test_one_worker_refuses_a_port_another_server_listens_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    held = bind_listener("127.0.0.1", 0, reuse_port=True)
    port = held.getsockname()[1]
    try:
        assert main(["--port", str(port)]) == 1
    finally:
        held.close()
    assert capsys.readouterr().err == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (another server "
        "already listens there?): stop it or choose another --port\n"
    )


@pytest.mark.slow  # a child process
def test_workers_refuse_to_start_beside_another_server_on_their_port(
    database: TestDatabase,
) -> None:
    """Another copy of ``python -m app.serve --workers 2`` listens on the port with
    SO_REUSEPORT (held here the way its workers hold it): a second copy's workers could
    bind beside it and take half its connections; it exits 1 instead, starting none."""
    held = bind_listener("127.0.0.1", 0, reuse_port=True)
    port = held.getsockname()[1]
    try:
        second = run_python(
            ["-m", "app.serve", "--workers", "2", "--port", str(port)],
            subprocess_env(database),
            timeout=60,
        )
    finally:
        held.close()
    assert second.returncode == 1, second.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in second.stderr
    assert "serving" not in second.stderr and "Traceback" not in second.stderr


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
