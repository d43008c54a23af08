"""Finding 4: no limit on request size, unauthenticated. A 64 MB header on ``GET /health``
was read for 6.4 s and answered 200 (worker memory 120 -> 245 MB); 8 MB headers and 2,000
headers were accepted.

Replayed over raw sockets against the server both ways it is run, ``python -m app.serve``
and plain ``uvicorn app.main:app`` (also with h11): heads over 16 KB of headers, 100 fields
or an 8 KB URL are refused (431/414) as they arrive, and a body over
MAX_REQUEST_BODY_BYTES is refused (413) before it is read. The in-process tests cover the
ASGI layer, which holds any other server to the same limits.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from app.api.policy import MAX_HEADER_BYTES, MAX_HEADER_FIELDS, MAX_TARGET_BYTES
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import uvicorn_app

BODY_LIMIT = 64 * 1024
UVICORN = str(Path(sys.executable).with_name("uvicorn"))
SERVERS = {
    "app.serve": [sys.executable, "-m", "app.serve"],
    "uvicorn app.main:app": [UVICORN, "app.main:app"],
    "uvicorn app.main:app --http h11": [UVICORN, "app.main:app", "--http", "h11"],
}


@pytest.fixture(scope="module", params=list(SERVERS))
def server(
    request: pytest.FixtureRequest, database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = subprocess_env(database, MAX_REQUEST_BODY_BYTES=str(BODY_LIMIT))
    with uvicorn_app(env, log, SERVERS[request.param]) as base:
        yield base
    assert "Traceback" not in log.read_text()


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _server_process(base: str) -> psutil.Process:
    (pid,) = {
        conn.pid
        for conn in psutil.net_connections(kind="tcp")
        if conn.laddr and conn.laddr.port == _port(base) and conn.status == psutil.CONN_LISTEN
    }
    assert pid is not None
    return psutil.Process(pid)


def _exchange(base: str, request: bytes) -> tuple[bytes, float]:
    """Send ``request`` on a new connection while reading the answer (as a client whose
    upload is cut short would): (everything the server sent, seconds until it closed)."""
    sock = socket.create_connection(("127.0.0.1", _port(base)), timeout=30)
    started = time.monotonic()

    def upload() -> None:
        # The server may close the connection before it has all of it: the point.
        with contextlib.suppress(OSError):
            sock.sendall(request)

    sender = threading.Thread(target=upload)
    sender.start()
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - started
    sender.join(30)
    sock.close()
    return received, elapsed


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _detail(answer: bytes) -> str:
    detail = json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]
    assert isinstance(detail, str)
    return detail


def _get(target: bytes, headers: list[bytes]) -> bytes:
    return b"\r\n".join([b"GET " + target + b" HTTP/1.1", b"Host: x", *headers, b"", b""])


@pytest.mark.slow  # child processes
def test_a_64_mb_header_is_refused_before_it_is_read(server: str) -> None:
    process = _server_process(server)
    memory_before = process.memory_info().rss
    answer, elapsed = _exchange(server, _get(b"/health", [b"X-Big: " + b"a" * (64 << 20)]))
    assert _status(answer) == 431, answer[:300]
    assert _detail(answer) == (
        f"request headers too large: at most {MAX_HEADER_FIELDS} fields "
        f"and {MAX_HEADER_BYTES} bytes"
    )
    assert b"x-content-type-options: nosniff" in answer.lower()
    assert elapsed < 3, elapsed
    assert process.memory_info().rss - memory_before < 16 << 20
    assert httpx.get(f"{server}/health", timeout=10).status_code == 200  # still serving


@pytest.mark.slow
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([b"X-Big: " + b"a" * (8 << 20)], 431),
        ([b"X-Big: " + b"a" * (MAX_HEADER_BYTES + 1)], 431),
        ([b"X-%d: v" % i for i in range(2000)], 431),
        # With Host and Connection: 101 fields, then 100.
        ([b"X-%d: v" % i for i in range(MAX_HEADER_FIELDS - 1)], 431),
        ([b"X-%d: v" % i for i in range(MAX_HEADER_FIELDS - 2)], 200),
        ([b"X-Big: " + b"a" * (MAX_HEADER_BYTES - 100)], 200),
    ],
    ids=["8 MB", "16 KB + 1", "2000 fields", "101 fields", "100 fields", "under 16 KB"],
)
def test_heads_over_the_limits_are_431_and_within_them_served(
    server: str, headers: list[bytes], status: int
) -> None:
    answer, _ = _exchange(server, _get(b"/health", [*headers, b"Connection: close"]))
    assert _status(answer) == status, answer[:300]


@pytest.mark.slow
def test_an_over_long_url_is_414(server: str) -> None:
    answer, _ = _exchange(server, _get(b"/health?q=" + b"a" * (MAX_TARGET_BYTES + 1), []))
    assert _status(answer) == 414, answer[:300]
    fits, _ = _exchange(server, _get(b"/health?q=" + b"a" * 4000, [b"Connection: close"]))
    assert _status(fits) == 200


@pytest.mark.slow
def test_a_body_over_the_limit_is_413_before_it_is_sent(server: str) -> None:
    """Only the head goes out: the 413 comes without the server waiting for the body."""
    head = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % (BODY_LIMIT + 1)
    )
    answer, elapsed = _exchange(server, head)
    assert _status(answer) == 413, answer[:300]
    assert _detail(answer) == f"request body too large: at most {BODY_LIMIT} bytes"
    assert b"connection: close" in answer.lower()
    assert elapsed < 3


@pytest.mark.slow
def test_a_chunked_body_is_stopped_at_the_limit(server: str) -> None:
    chunk = b"a" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(64)) + b"0\r\n\r\n"
    head = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    answer, _ = _exchange(server, head + body)
    assert _status(answer) == 413, answer[:300]
    assert _detail(answer) == f"request body too large: at most {BODY_LIMIT} bytes"


async def test_the_app_refuses_what_a_server_without_our_protocol_lets_through(
    client: httpx.AsyncClient,
) -> None:
    """In process (no uvicorn): the ASGI layer applies the same limits."""
    many = {f"x-{i}": "v" for i in range(MAX_HEADER_FIELDS + 1)}
    assert (await client.get("/health", headers=many)).status_code == 431
    big = {"x-big": "a" * (MAX_HEADER_BYTES + 1)}
    assert (await client.get("/health", headers=big)).status_code == 431
    assert (await client.get("/health?q=" + "a" * MAX_TARGET_BYTES)).status_code == 414
    too_big = await client.post(
        "/api/v1/auth/token", content=b"a" * (5 * 1024 * 1024 + 1), headers={"Content-Type": "x"}
    )
    assert too_big.status_code == 413
