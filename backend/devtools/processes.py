"""Child processes as a user runs them from backend/: Python commands (CLIs, Alembic,
snippets), HTTP servers started and polled until they answer, free ports, and the embedded
PostgreSQL servers running on a data directory."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from app.config import BACKEND_DIR

LOOPBACK = "127.0.0.1"


class ServerStartError(RuntimeError):
    """A server process exited, or never answered, before it was up; the message ends with
    its log."""


def run_python(
    args: Sequence[str],
    env: dict[str, str],
    *,
    timeout: float = 300,
    stdin: str | None = None,
    cwd: Path = BACKEND_DIR,
) -> subprocess.CompletedProcess[str]:
    """``python <args>`` from backend/ (a script path, ``-m alembic``, ``-c code``), with
    ``stdin`` written to its standard input; the timeout only guards against a hang."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def embedded_servers_for(pgdata: Path) -> list[psutil.Process]:
    """Postmasters (and their children) running on ``pgdata``."""
    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(cmdline):
            found.append(proc)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def any_answer(response: httpx.Response) -> bool:
    """A server is up once it answers at all (a 503 from a database outage included)."""
    return True


@contextmanager
def http_server(
    command: Sequence[str],
    *,
    options: Sequence[str] = (),
    env: Mapping[str, str],
    log: Path,
    cwd: Path = BACKEND_DIR,
    is_up: Callable[[httpx.Response], bool] = any_answer,
    start_timeout: float = 60,
    stop_timeout: float = 20,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``command --host 127.0.0.1 --port <a free port> options`` from ``cwd`` with its
    output in ``log``; poll ``GET /health`` until ``is_up`` accepts the answer, then yield the
    base URL and the process. When the block ends the server gets SIGTERM, as from a
    process manager, and SIGKILL after ``stop_timeout`` seconds.

    Raises ServerStartError if it exits, or is not up within ``start_timeout`` seconds.
    """
    port = free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [*command, "--host", LOOPBACK, "--port", str(port), *options],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://{LOOPBACK}:{port}"
        _wait_until_up(server, f"{base}/health", is_up, log, start_timeout)
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(
    server: subprocess.Popen[bytes],
    health_url: str,
    is_up: Callable[[httpx.Response], bool],
    log: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise ServerStartError(f"the server exited early:\n{log.read_text()}")
        try:
            if is_up(httpx.get(health_url, timeout=2)):
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise ServerStartError(f"the server never answered:\n{log.read_text()}")
        time.sleep(0.2)


@contextmanager
def uvicorn_app(
    env: dict[str, str], log: Path, command: Sequence[str] | None = None
) -> Iterator[str]:
    """The app served from backend/ (``uvicorn app.main:app``, or ``command``) by
    :func:`http_server`; yields its base URL once /health answers."""
    if command is None:
        command = [str(Path(sys.executable).with_name("uvicorn")), "app.main:app"]
    with http_server(command, env=env, log=log) as (base, _):
        yield base
