"""One base class for every error this project raises on purpose, and where each leaves.

An :class:`AppError`'s message is written for the person who reads it (what is wrong,
where, what to do) and holds no secret. Its class states once how it leaves the app:
``http_status`` is what the API answers (``app.api.errors``), ``exit_code`` what a
command-line script exits with (``app.core.cli``). Nothing else maps errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
from sqlalchemy import exc as sa_exc

EXIT_OK = 0
EXIT_DATA_ERROR = 1
"""The input or the stored data cannot be used as it is (nothing was written)."""
EXIT_USAGE_ERROR = 2
"""A wrong argument, setting or environment: fix the command, not the data."""
EXIT_BUSY = 3
"""Another run of the same job holds its lock: nothing was done; try again later."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT), as shells report it."""

MIGRATE_HINT = "run `cd backend && uv run alembic upgrade head`"


class AppError(Exception):
    """An error with a message safe to show and a known way out (HTTP status, exit code)."""

    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = EXIT_DATA_ERROR
    http_retry_after: ClassVar[int | None] = None
    """Seconds after which the same request may succeed (the API's Retry-After)."""

    def http_headers(self) -> Mapping[str, str]:
        """Headers the API answer carries with the status (WWW-Authenticate, Retry-After)."""
        if self.http_retry_after is None:
            return {}
        return {"Retry-After": str(self.http_retry_after)}

    def http_details(self) -> Mapping[str, Any]:
        """Members the API's JSON answer carries beside ``detail`` (e.g. every rejected
        row of a file); none by default."""
        return {}


class NotFoundError(AppError, LookupError):
    """The benchmark, portfolio, position or row asked for does not exist."""

    http_status = 404
    exit_code = EXIT_USAGE_ERROR


class NotAuthenticatedError(AppError):
    """No valid sign-in: no, malformed or expired token, a disabled user, a wrong email or
    password (all alike, so the answer tells nothing about which accounts exist)."""

    http_status = 401
    exit_code = EXIT_USAGE_ERROR

    def http_headers(self) -> Mapping[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class TooManyAttemptsError(AppError):
    """Too many failed attempts in a while; the caller may retry after ``retry_after`` s."""

    http_status = 429
    exit_code = EXIT_DATA_ERROR

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def http_headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class InvalidQueryError(AppError, ValueError):
    """The parameters are well-formed but make no sense together (bad cursor, from > to)."""

    http_status = 400
    exit_code = EXIT_USAGE_ERROR


class InputDataError(AppError, ValueError):
    """Input data (a file, a provider's answer) that cannot be stored as it is."""

    http_status = 422
    exit_code = EXIT_DATA_ERROR


class FileDataError(InputDataError):
    """A file's content cannot be used. The message says where: the file, then the line,
    column (a character position) or field (a CSV column, a JSON path) and symbol where
    they are known, then what is wrong."""

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        symbol: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.problem = problem
        self.line, self.column, self.field, self.symbol = line, column, field, symbol
        where = [str(path)]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column}")
        if field is not None:
            where.append(f"field {field}")
        if symbol:
            where.append(f"symbol {symbol}")
        super().__init__(f"{', '.join(where)}: {problem}")


class FileArgumentError(FileDataError):
    """The file named on the command line cannot be used as an input file at all (missing,
    a directory or device, too large, an unknown type): fix the command, not the data."""

    exit_code = EXIT_USAGE_ERROR


class ConfigurationError(AppError, ValueError):
    """A setting or the environment is wrong (DATABASE_URL, a missing API key)."""

    exit_code = EXIT_USAGE_ERROR


class CommandError(AppError):
    """A script stops with this message and exit code (already safe to print)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return self.code


class DatabaseUnavailableError(AppError):
    """The database cannot serve right now (down, unreachable, busy, too slow): not the
    request's fault, and the same request may succeed later."""

    http_status = 503
    http_retry_after = 5


class SchemaNotAtHeadError(AppError):
    """The database schema is behind this code's migrations (or otherwise not at head)."""

    http_status = 503
    exit_code = EXIT_USAGE_ERROR
    http_retry_after = 30


# Errors that mean "the database cannot serve right now", not "this request is wrong".
# SQLAlchemy wraps most of asyncpg's server errors in a plain DBAPIError, with the asyncpg
# error as the cause of ``.orig``: use database_unavailable(exc), which looks down that
# chain, rather than a bare isinstance.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    # Sockets: refused, reset, unreachable, unknown host, and asyncpg's connect and command
    # timeouts (builtin TimeoutError); asyncpg raises these unwrapped.
    OSError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    # No pooled connection became free within the pool timeout.
    sa_exc.TimeoutError,
    # A session whose transaction died with its connection.
    sa_exc.PendingRollbackError,
    # The server: starting up or shutting down (57P03, 57P01/57P02), a statement timeout
    # (57014), no connection slots or memory (53xxx), a wrong role or password (28xxx), a
    # database that does not exist (3D000), a failed or lost connection (08xxx).
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.PostgresConnectionError,
    # The client: connection closed, another operation in progress on a broken connection.
    asyncpg.InterfaceError,
)

# What each condition means for the caller, most specific first. Nothing here names a
# host, role or database: 5xx bodies must not leak the deployment.
_UNAVAILABLE_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (sa_exc.TimeoutError, "no database connection became free in time (the server is busy)"),
    (asyncpg.QueryCanceledError, "a database statement ran past its time limit"),
    (asyncpg.CannotConnectNowError, "the database server is starting up or shutting down"),
    (asyncpg.AdminShutdownError, "the database server is shutting down"),
    (asyncpg.CrashShutdownError, "the database server is restarting after a crash"),
    (asyncpg.TooManyConnectionsError, "the database server has no connection slots left"),
    (asyncpg.InsufficientResourcesError, "the database server is out of resources"),
    (
        asyncpg.InvalidAuthorizationSpecificationError,
        "the database server rejected the configured role or password",
    ),
    (asyncpg.InvalidCatalogNameError, "the configured database does not exist"),
    (ConnectionRefusedError, "the database server refused the connection"),
    (TimeoutError, "the database server did not answer in time"),
    (sa_exc.PendingRollbackError, "the database connection was lost during the request"),
)
_CONNECTION_LOST = "the connection to the database server failed or was lost"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the DBAPI error SQLAlchemy wrapped, and their causes (asyncpg's own)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, current.__cause__]


def database_unavailable(exc: BaseException) -> str | None:
    """Why ``exc`` means the database cannot serve right now (a short phrase safe to show),
    or None when it is some other error."""
    causes = list(_causes(exc))
    if not any(isinstance(cause, DATABASE_UNAVAILABLE) for cause in causes):
        return None
    for kind, reason in _UNAVAILABLE_REASONS:
        if any(isinstance(cause, kind) for cause in causes):
            return reason
    return _CONNECTION_LOST


def schema_missing(exc: BaseException) -> bool:
    """An undefined table or column: the database is behind this code's migrations."""
    return any(
        isinstance(cause, asyncpg.UndefinedTableError | asyncpg.UndefinedColumnError)
        # asyncpg (via SQLAlchemy's adapter) says sqlstate, psycopg2 pgcode
        or (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None))
        in {"42P01", "42703"}
        for cause in _causes(exc)
    )
