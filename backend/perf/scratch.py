"""Throwaway databases for the benchmarks, never the configured application database.

Server: ``--database-url`` when given, else ``TEST_DATABASE_URL``, else an embedded
PostgreSQL under ``backend/.pgdata/bench``. On that server the benchmarks create their own
``bench_*`` databases and drop them afterwards; the database named in the URL is only used
to issue CREATE/DROP DATABASE.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from app.config import BACKEND_DIR
from app.core.db import SYNC_DRIVER, embedded_server_url, with_driver
from app.core.redaction import safe_url

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
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    finally:
        admin.dispose()
    return server.set(database=name)


def drop_database(server: URL, name: str) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def throwaway_database(server: URL, prefix: str, template: str | None = None) -> Iterator[URL]:
    url = create_database(server, prefix, template)
    try:
        yield url
    finally:
        drop_database(server, str(url.database))


def alembic_config(url: URL) -> Config:
    """Alembic bound to ``url`` (env.py reads config.attributes), logging left alone."""
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config
