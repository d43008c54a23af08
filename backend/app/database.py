"""The spec's import path for sessions: ``from app.database import AsyncSessionLocal``.

Everything lives in :mod:`app.core.db` (URLs, engines, sessions) and
:mod:`app.core.embedded_postgres` (the embedded server); this module re-exports it so the
spec's snippets and existing scripts keep working.
"""

from app.core.db import (
    ASYNC_DRIVER,
    SYNC_DRIVER,
    AsyncSessionLocal,
    DatabaseConfigError,
    create_engine_for,
    create_sessionmaker,
    database_url,
    with_driver,
)
from app.core.embedded_postgres import embedded_server_url, release_embedded_servers
from app.core.redaction import safe_url

__all__ = [
    "ASYNC_DRIVER",
    "SYNC_DRIVER",
    "AsyncSessionLocal",
    "DatabaseConfigError",
    "create_engine_for",
    "create_sessionmaker",
    "database_url",
    "embedded_server_url",
    "release_embedded_servers",
    "safe_url",
    "with_driver",
]
