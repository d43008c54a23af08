"""Where the PostgreSQL server of the tests and of the benchmarks comes from, and throwaway
databases on it. ``DATABASE_URL`` is never used: it may be real data.

* Tests (:func:`resolve_server`): ``TEST_DATABASE_URL`` (a server where we may CREATE
  DATABASE) -> a testcontainers PostgreSQL when a Docker engine answers -> the embedded
  wheel with its data under ``backend/.pgdata/tests``.
* Benchmarks (:func:`benchmark_server_url`): ``--database-url`` when given, else
  ``TEST_DATABASE_URL``, else the embedded wheel under ``backend/.pgdata/bench``.

On that server :class:`PostgresServer` creates databases (empty, or clones of a migrated
template) and drops them; the database the server's URL names only issues CREATE/DROP
DATABASE. :func:`alembic_config` binds Alembic to one database.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine

from app.config import BACKEND_DIR
from app.core.db import ASYNC_DRIVER, SYNC_DRIVER, with_driver
from app.core.embedded_postgres import embedded_server_url
from app.core.redaction import safe_url

EMBEDDED_TEST_PGDATA = BACKEND_DIR / ".pgdata" / "tests"
BENCH_PGDATA = BACKEND_DIR / ".pgdata" / "bench"


@dataclass(frozen=True)
class TestDatabase:
    """A database created on a :class:`PostgresServer` for a test, a test module or a
    benchmark run."""

    __test__ = False  # not a pytest class

    name: str
    sync_url: URL
    async_url: URL

    @property
    def env_url(self) -> str:
        """The URL as a user would put it in DATABASE_URL (password kept)."""
        return self.async_url.render_as_string(hide_password=False)

    def rows(self, statement: str, **params: object) -> list[tuple[object, ...]]:
        """Run ``statement`` in a transaction of its own (committed); its rows, if any."""
        engine = create_engine(self.sync_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()


def _docker_engine_answers() -> bool:
    """Cheap check before asking testcontainers: is there a Docker socket that answers?"""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return True  # a remote engine: let testcontainers try
    path = host.removeprefix("unix://")
    if not Path(path).exists():
        return False
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in sock.recv(256)
    except OSError:
        return False


class PostgresServer:
    """A server on which the tests and benchmarks create and drop their own databases."""

    def __init__(self, admin_url: URL, source: str) -> None:
        self.admin_url = with_driver(admin_url, SYNC_DRIVER)
        self.source = source
        self._admin: Engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")

    def url_for(self, name: str, driver: str = SYNC_DRIVER) -> URL:
        return with_driver(self.admin_url.set(database=name), driver)

    def create_database(self, prefix: str, template: str | None = None) -> TestDatabase:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self._admin.connect() as conn:
            if template is not None:
                # CREATE DATABASE ... TEMPLATE needs the template to have no connections.
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": template},
                )
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            else:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        return TestDatabase(name, self.url_for(name), self.url_for(name, ASYNC_DRIVER))

    def drop_database(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def dispose(self) -> None:
        self._admin.dispose()


@contextmanager
def resolve_server() -> Iterator[PostgresServer]:
    """The tests' server (see the module docstring), for as long as the block runs."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        server = PostgresServer(with_driver(url, SYNC_DRIVER), "TEST_DATABASE_URL")
        yield server
        server.dispose()
        return
    if _docker_engine_answers():
        with ExitStack() as stack:
            try:
                from testcontainers.community.postgres import PostgresContainer

                container = stack.enter_context(
                    PostgresContainer("postgres:17-alpine", driver="psycopg2")
                )
            except Exception as exc:  # no engine after all, image pull refused, ...
                print(
                    f"testcontainers unavailable ({type(exc).__name__}); using embedded",
                    file=sys.stderr,
                )
            else:
                # Outside the try: an error of the tests themselves must not read as
                # "testcontainers unavailable" (nor be swallowed by it).
                server = PostgresServer(
                    with_driver(container.get_connection_url(), SYNC_DRIVER), "testcontainers"
                )
                yield server
                server.dispose()
                return
    embedded = embedded_server_url(EMBEDDED_TEST_PGDATA, announce=False)
    server = PostgresServer(embedded, f"embedded ({EMBEDDED_TEST_PGDATA})")
    yield server
    server.dispose()


def alembic_config(url: URL) -> Config:
    """An Alembic config bound to ``url``; env.py reads it from config.attributes."""
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def subprocess_env(database: TestDatabase, **extra: str) -> dict[str, str]:
    """Environment for a child process (CLI, spec snippet) bound to ``database``."""
    env = {k: v for k, v in os.environ.items() if k not in {"FMP_API_KEY", "DATABASE_URL"}}
    env["DATABASE_URL"] = database.env_url
    # Set, even if blank, so a developer's backend/.env cannot leak a real key into tests.
    env["FMP_API_KEY"] = ""
    env.update(extra)
    return env


# -- the benchmarks' server -------------------------------------------------------------------


def benchmark_server_url(explicit: str | None) -> URL:
    """The server a benchmark creates its throwaway databases on (see the module docstring)."""
    if explicit:
        return with_driver(explicit, SYNC_DRIVER)
    if from_env := os.environ.get("TEST_DATABASE_URL"):
        return with_driver(from_env, SYNC_DRIVER)
    return with_driver(embedded_server_url(BENCH_PGDATA, announce=False), SYNC_DRIVER)


def create_database(server: URL, prefix: str, template: str | None = None) -> URL:
    """A new empty database (or a clone of ``template``) on ``server``; its sync URL."""
    admin = PostgresServer(server, safe_url(server))
    try:
        return admin.create_database(prefix, template).sync_url
    finally:
        admin.dispose()


def drop_database(server: URL, name: str) -> None:
    admin = PostgresServer(server, safe_url(server))
    try:
        admin.drop_database(name)
    finally:
        admin.dispose()


@contextmanager
def throwaway_database(server: URL, prefix: str, template: str | None = None) -> Iterator[URL]:
    """:func:`create_database` for the block, dropped afterwards; yields its sync URL."""
    url = create_database(server, prefix, template)
    try:
        yield url
    finally:
        drop_database(server, str(url.database))
