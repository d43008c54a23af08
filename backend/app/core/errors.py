"""One base class for every error this project raises on purpose, and where each leaves.

An :class:`AppError`'s message is written for the person who reads it (what is wrong,
where, what to do) and holds no secret. Its class states once how it leaves the app:
``http_status`` is what the API answers (``app.api.errors``), ``exit_code`` what a
command-line script exits with (``app.core.cli``). Nothing else maps errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from sqlalchemy.exc import InterfaceError, OperationalError

EXIT_OK = 0
EXIT_DATA_ERROR = 1
"""The input or the stored data cannot be used as it is (nothing was written)."""
EXIT_USAGE_ERROR = 2
"""A wrong argument, setting or environment: fix the command, not the data."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT), as shells report it."""

MIGRATE_HINT = "run `cd backend && uv run alembic upgrade head`"


class AppError(Exception):
    """An error with a message safe to show and a known way out (HTTP status, exit code)."""

    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = EXIT_DATA_ERROR

    def http_headers(self) -> Mapping[str, str]:
        """Headers the API answer carries with the status (WWW-Authenticate, Retry-After)."""
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


# Errors that mean "the database is not there right now", not "this request is wrong".
# asyncpg raises the socket errors of a failed connect unwrapped: ConnectionRefusedError,
# TimeoutError and socket.gaierror are all OSErrors.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, OSError)
