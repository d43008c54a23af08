"""Throwaway databases for the performance scripts, never the configured application database.

The databases themselves come from the tests' helper (tests.support.databases), so tests
and performance scripts create, clone and drop them the same way; this module only adds
where the performance scripts find a server.

Server: ``--database-url`` when given, else ``TEST_DATABASE_URL``, else an embedded
PostgreSQL under ``backend/.pgdata/bench``. On that server the benchmarks create their own
``bench_*`` databases and drop them afterwards; the database named in the URL is only used
to issue CREATE/DROP DATABASE.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL

from app.config import BACKEND_DIR
from app.core.db import SYNC_DRIVER, with_driver
from app.core.embedded_postgres import embedded_server_url
from app.core.redaction import safe_url
from tests.support.databases import PostgresServer, alembic_config

__all__ = [
    "RESULTS_DIR",
    "alembic_config",
    "create_database",
    "describe",
    "drop_database",
    "server_url",
    "throwaway_database",
]

BENCH_PGDATA = BACKEND_DIR / ".pgdata" / "bench"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def server_url(explicit: str | None) -> URL:
    """The server to create throwaway databases on (see the module docstring)."""
    if explicit:
        return with_driver(explicit, SYNC_DRIVER)
    if from_env := os.environ.get("TEST_DATABASE_URL"):
        return with_driver(from_env, SYNC_DRIVER)
    return with_driver(embedded_server_url(BENCH_PGDATA, announce=False), SYNC_DRIVER)


def describe(url: URL) -> str:
    described: str = safe_url(url)
    return described


def create_database(server: URL, prefix: str, template: str | None = None) -> URL:
    """A new empty database (or a clone of ``template``) on ``server``; its sync URL."""
    admin = PostgresServer(server, describe(server))
    try:
        return admin.create_database(prefix, template).sync_url
    finally:
        admin.dispose()


def drop_database(server: URL, name: str) -> None:
    admin = PostgresServer(server, describe(server))
    try:
        admin.drop_database(name)
    finally:
        admin.dispose()


@contextmanager
def throwaway_database(server: URL, prefix: str, template: str | None = None) -> Iterator[URL]:
    url = create_database(server, prefix, template)
    try:
        yield url
    finally:
        drop_database(server, str(url.database))
