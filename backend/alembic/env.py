"""Alembic environment: one transaction per revision, lock-timeout failures explained.

The URL comes from ``config.attributes["database_url"]`` (tests, benchmarks) or else
from app settings: DATABASE_URL, or the embedded PostgreSQL when it is unset. Failures
this project knows (configuration, connection, locks) become one CommandError, which
Alembic prints once as ``FAILED: ...``.
"""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from alembic.util import CommandError
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from app.core.db import SYNC_DRIVER, database_url, with_driver
from app.core.errors import AppError
from app.core.redaction import safe_url
from app.migrations.locks import describe_lock_failure
from app.models import Base

# backend/alembic.ini holds the one logging setup, also when Alembic was started from the
# repository root (whose alembic.ini only points here).
LOGGING_INI = Path(__file__).resolve().parent.parent / "alembic.ini"

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(LOGGING_INI, disable_existing_loggers=False)

target_metadata = Base.metadata

CONFIGURE_OPTS = {
    "target_metadata": target_metadata,
    "transaction_per_migration": True,
    "compare_type": True,
    "compare_server_default": True,
}


def _url() -> URL:
    given = config.attributes.get("database_url")
    if given is not None:
        return with_driver(given, SYNC_DRIVER)
    return database_url(SYNC_DRIVER)


def run_migrations_offline() -> None:
    # Offline mode renders SQL only: a dialect is enough, no server is started.
    context.configure(dialect_name="postgresql", literal_binds=True, **CONFIGURE_OPTS)
    with context.begin_transaction():
        context.run_migrations()


def _parent_revision_downgrade() -> dict[str, Any]:
    """Support ``alembic downgrade <rev>^`` ("the revision before <rev>"), as the spec's
    rollback instructions write it; Alembic itself only knows ``<rev>-1``."""
    cmd_opts = config.cmd_opts
    target = getattr(cmd_opts, "revision", None)
    if getattr(cmd_opts, "cmd", None) is None or not isinstance(target, str):
        return {}
    if not target.endswith("^") or getattr(cmd_opts.cmd[0], "__name__", "") != "downgrade":
        return {}
    script = context.script
    revision = script.get_revision(target[:-1])
    if revision is None or isinstance(revision.down_revision, tuple):
        raise CommandError(f"{target!r}: no single parent revision")
    parent = revision.down_revision or "base"
    return {"fn": lambda rev, _ctx: script._downgrade_revs(parent, rev)}


def _end_session_with_client(connection: Connection) -> None:
    """If this process is killed, the server ends its session within a second instead of
    carrying on alone: an orphaned CREATE INDEX CONCURRENTLY would keep waiting or building
    and hold the lock the re-run needs. (PostgreSQL 14+; a session setting, so it also
    covers the autocommit blocks.)"""
    if (connection.dialect.server_version_info or (0,)) >= (14,):
        connection.exec_driver_sql("SET client_connection_check_interval = '1s'")
        connection.commit()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **CONFIGURE_OPTS, **_parent_revision_downgrade())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    try:
        url = _url()
    except AppError as exc:  # DATABASE_URL, or the embedded data directory
        raise CommandError(str(exc)) from None
    connectable = create_engine(url, poolclass=pool.NullPool)
    try:
        try:
            connection = connectable.connect()
        except OperationalError as exc:
            # The driver's message names host and port, never the password; the URL is masked.
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unknown error"
            raise CommandError(f"Cannot connect to {safe_url(url)}: {reason}") from None
        with connection:
            _end_session_with_client(connection)
            try:
                _run(connection)
            except DBAPIError as exc:
                code = getattr(exc.orig, "pgcode", None)
                if code in ("55P03", "57014"):  # lock_not_available, query_canceled
                    # Explain who holds the lock, then fail with a one-paragraph message.
                    raise CommandError(describe_lock_failure(connectable, exc)) from None
                reason = str(exc.orig or exc).strip().splitlines()[0]
                if code in ("42P07", "42710"):  # duplicate_table, duplicate_object
                    raise CommandError(
                        f"{reason}: the tables exist but alembic_version does not record them "
                        "(the revision rolled back, nothing changed); see README "
                        "Troubleshooting, 'relation already exists' (alembic stamp)"
                    ) from None
                raise CommandError(
                    f"migration failed, its revision rolled back: {reason}"
                ) from None
    finally:
        connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
