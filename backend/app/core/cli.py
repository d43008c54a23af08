"""What the command-line scripts share: argument types, and one way to end a command.

:func:`run_command` is where every script's errors become one printed line and an exit
code: an :class:`~app.core.errors.AppError` by its ``exit_code``, a database that cannot
be reached or is not migrated by what to do about it, Ctrl-C by 130. Scripts stay thin:
parse arguments, call one service inside ``run_command``, print the result.
"""

from __future__ import annotations

import argparse
import traceback
import uuid
from collections.abc import Callable
from datetime import date

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.config import get_settings
from app.core.errors import (
    EXIT_DATA_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE_ERROR,
    MIGRATE_HINT,
    AppError,
    CommandError,
    database_unavailable,
    schema_missing,
)
from app.core.redaction import redact, safe_message, secrets_of

__all__ = [
    "EXIT_DATA_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE_ERROR",
    "CommandError",
    "iso_date",
    "run_command",
    "uuid_arg",
]


def iso_date(text: str) -> date:
    """argparse type: YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def uuid_arg(text: str) -> uuid.UUID:
    """argparse type: a UUID."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def describe_failure(exc: BaseException, secrets: list[str]) -> tuple[str, int]:
    """The one line to print for ``exc`` (secrets masked) and the exit code to end with."""
    if isinstance(exc, AppError):
        return redact(str(exc), secrets), exc.exit_code
    if schema_missing(exc):
        return (
            f"the database schema is not migrated ({safe_message(exc, secrets)}): {MIGRATE_HINT}",
            EXIT_USAGE_ERROR,
        )
    if database_unavailable(exc) is not None:
        return (
            f"cannot use the database: {safe_message(exc, secrets)} (check DATABASE_URL and "
            "that the server accepts connections)",
            EXIT_DATA_ERROR,
        )
    if isinstance(exc, DBAPIError | SQLAlchemyError):
        return f"database error: {safe_message(exc, secrets)}", EXIT_DATA_ERROR
    raise exc


def run_command(
    body: Callable[[], int],
    *,
    err: Console,
    interrupted: str = "interrupted: nothing was written",
    verbose: bool = False,
) -> int:
    """Run a script's ``body`` and turn what it raises into one line on ``err`` and a code.

    ``interrupted`` is what Ctrl-C prints: say what was kept. Anything else is a bug:
    one line saying so (the traceback with ``verbose``), secrets masked, exit 1.
    """
    try:
        settings = get_settings()
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        err.print(f"error: invalid configuration in environment/.env: {fields}", markup=False)
        return EXIT_USAGE_ERROR
    secrets = secrets_of(settings)
    try:
        return body()
    except KeyboardInterrupt:
        err.print(interrupted, markup=False, highlight=False)
        return EXIT_INTERRUPTED
    except Exception as exc:
        try:
            message, code = describe_failure(exc, secrets)
        except Exception:
            if verbose:
                err.print(redact(traceback.format_exc(), secrets), markup=False)
            message = redact(f"{type(exc).__name__}: {exc}", secrets)
            err.print(
                f"[bold red]unexpected error, nothing written:[/] {escape(message)}",
                highlight=False,
            )
            return EXIT_DATA_ERROR
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        return code
