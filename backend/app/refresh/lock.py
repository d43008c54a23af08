"""One refresh at a time: a PostgreSQL advisory lock, held by a connection of its own for
the whole run.

The lock is session-level on a connection in autocommit (no transaction stays open while
the refresh runs), so it goes with that connection: a refresh killed outright releases it
when the server notices the connection is gone. The connection names itself in
``application_name`` (this process's id, host and start), so a second refresh can say
which one holds the lock, with the server's view of it (pg_stat_activity).
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.errors import EXIT_BUSY, AppError

REFRESH_LOCK_KEY = 0x52454652_45534831
"""The advisory lock's bigint key ("REFRESH1"); both 32-bit halves below 2**31, so
pg_locks shows them as classid and objid unchanged."""

APPLICATION_NAME_MAX = 63
"""PostgreSQL keeps the first 63 bytes of an application_name."""


class RefreshRunningError(AppError):
    """Another refresh holds the lock: nothing was done."""

    http_status = 409
    exit_code = EXIT_BUSY


def application_name(started: datetime) -> str:
    """What the lock's connection calls itself: the script, its pid and host, its start."""
    name = (
        f"refresh.py pid {os.getpid()} on {socket.gethostname()} "
        f"since {started.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"
    )
    return name.encode()[:APPLICATION_NAME_MAX].decode(errors="ignore")


_HOLDER = text(
    "SELECT a.pid, a.application_name, a.backend_start, a.client_addr::text"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"
)


async def _holder(connection: AsyncConnection) -> str:
    """Who holds the lock, as the server sees it (or that it was released meanwhile)."""
    row = (
        await connection.execute(
            _HOLDER, {"high": REFRESH_LOCK_KEY >> 32, "low": REFRESH_LOCK_KEY & 0xFFFFFFFF}
        )
    ).first()
    if row is None:
        return "another refresh held the lock a moment ago (it has just ended: run again)"
    pid, name, backend_start, client = row
    who = name or "a client without an application_name"
    where = f" from {client}" if client else ""
    return (
        f"another refresh is running: {who} (database connection pid {pid}{where}, "
        f"connected {backend_start.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
    )


@asynccontextmanager
async def refresh_lock(engine: AsyncEngine, started: datetime) -> AsyncIterator[None]:
    """Hold the refresh lock for the block, or raise RefreshRunningError at once."""
    async with engine.connect() as connection:
        conn = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            text("SELECT set_config('application_name', :name, false)"),
            {"name": application_name(started)},
        )
        taken = await conn.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": REFRESH_LOCK_KEY}
        )
        if not taken:
            raise RefreshRunningError(f"{await _holder(conn)}; nothing was done")
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": REFRESH_LOCK_KEY})
