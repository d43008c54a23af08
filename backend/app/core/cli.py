"""What the command-line scripts share: argument types, output, and one way to end.

:func:`run_command` is where every script's errors become one printed line and an exit
code: an :class:`~app.core.errors.AppError` by its ``exit_code``, a database that cannot
be reached or is not migrated by what to do about it, Ctrl-C by 130. Scripts stay thin:
parse arguments, call one service inside ``run_command``, print the result with
:func:`print_table` (fits the terminal) or :func:`print_json` (``--json``).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import traceback
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.config import get_settings
from app.core.errors import (
    EXIT_BUSY,
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
from app.core.input_files import parse_iso_date
from app.core.redaction import redact, safe_message, secrets_of

__all__ = [
    "EXIT_BUSY",
    "EXIT_DATA_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE_ERROR",
    "CommandError",
    "iso_date",
    "print_json",
    "print_table",
    "run_command",
    "uuid_arg",
]


def progress_bar(err: Console) -> Progress:
    """A script's progress bar on ``err``: drawn on a terminal only (no bar in logs and
    pipes), gone when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def iso_date(text: str) -> date:
    """argparse type: YYYY-MM-DD."""
    try:
        return parse_iso_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def uuid_arg(text: str) -> uuid.UUID:
    """argparse type: a UUID."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


_DRIVER_CLASS_PREFIX = re.compile(r"^(\(\S+\)\s*)?(<class '[^']+'>:\s*)?")


def _database_reason(exc: BaseException, secrets: list[str]) -> str:
    """The server's or driver's own words, without SQLAlchemy's class-name wrapping."""
    text = safe_message(getattr(exc, "orig", None) or exc, secrets)
    return _DRIVER_CLASS_PREFIX.sub("", text) or type(exc).__name__


def describe_failure(exc: BaseException, secrets: list[str]) -> tuple[str, int]:
    """The one line to print for ``exc`` (secrets masked) and the exit code to end with."""
    if isinstance(exc, AppError):
        return redact(str(exc), secrets), exc.exit_code
    if schema_missing(exc):
        return (
            f"the database schema is not migrated ({_database_reason(exc, secrets)}): "
            f"{MIGRATE_HINT}",
            EXIT_USAGE_ERROR,
        )
    if database_unavailable(exc) is not None:
        return (
            f"cannot use the database: {_database_reason(exc, secrets)} (check DATABASE_URL "
            "and that the server accepts connections)",
            EXIT_DATA_ERROR,
        )
    if isinstance(exc, DBAPIError | SQLAlchemyError):
        return f"database error: {_database_reason(exc, secrets)}", EXIT_DATA_ERROR
    raise exc


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, as the API sends decimals
    if isinstance(value, date | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite(value: Any) -> Any:
    """NaN and infinities (which JSON cannot hold) as null, all the way down."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def print_json(out: Console, payload: Mapping[str, Any]) -> None:
    """One JSON object on one line of ``out`` (never wrapped or highlighted): a script's
    machine-readable result. Decimals are strings, dates ISO, UUIDs text, NaN null."""
    text = json.dumps(_finite(payload), default=_json_default, ensure_ascii=False, allow_nan=False)
    out.file.write(text + "\n")
    out.file.flush()


def print_table(out: Console, table: Table) -> None:
    """``table`` as a table when it fits ``out``'s width, else one block per row (its
    first cell, then "header  value" lines), so no cell is ever cut short."""
    # Measured without the console's width limit: rich shrinks a table to fit, cutting cells.
    natural = Measurement.get(out, out.options.update_width(1_000_000), table).maximum
    if natural <= out.width:
        out.print(table)
        return
    if table.title:
        out.print(table.title, style="table.title")
    headers = [str(c.header) for c in table.columns]
    for cells in zip(*(list(c.cells) for c in table.columns), strict=True):
        first, *rest = cells
        out.print(Text(str(first), style="bold") if isinstance(first, str) else first)
        block = Table.grid(padding=(0, 2))
        block.add_column(style="dim", no_wrap=True)
        block.add_column(overflow="fold")
        for header, cell in zip(headers[1:], rest, strict=True):
            if str(cell):
                block.add_row(header, cell)
        out.print(Padding(block, (0, 0, 0, 2), expand=False))


def run_command(
    body: Callable[[], int],
    *,
    err: Console,
    interrupted: str | Callable[[], str] = "interrupted: nothing was written",
    verbose: bool = False,
    json_out: Console | None = None,
) -> int:
    """Run a script's ``body`` and turn what it raises into one line on ``err`` and a code.

    ``interrupted`` is what Ctrl-C prints: say what was kept (a callable is asked at that
    moment, for a count of what was stored). Anything else is a bug: one line saying so
    (the traceback with ``verbose``), secrets masked, exit 1. With ``json_out``
    (``--json``) a failure is also one JSON object there, ``{"status": "error" or
    "interrupted", "exit_code": N, "error": "the same line"}``, so stdout always holds
    exactly one JSON result.
    """

    def fail(message: str, code: int, *, prefix: str = "[bold red]error:[/] ") -> int:
        err.print(f"{prefix}{escape(message)}", highlight=False, soft_wrap=True)
        if json_out is not None:
            status = "interrupted" if code == EXIT_INTERRUPTED else "error"
            print_json(json_out, {"status": status, "exit_code": code, "error": message})
        return code

    try:
        settings = get_settings()
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        return fail(f"invalid configuration in environment/.env: {fields}", EXIT_USAGE_ERROR)
    secrets = secrets_of(settings)
    try:
        return body()
    except KeyboardInterrupt:
        message = interrupted() if callable(interrupted) else interrupted
        return fail(message, EXIT_INTERRUPTED, prefix="")
    except Exception as exc:
        try:
            message, code = describe_failure(exc, secrets)
        except Exception:
            if verbose:
                err.print(redact(traceback.format_exc(), secrets), markup=False)
            message = redact(f"{type(exc).__name__}: {exc}", secrets)
            return fail(
                message, EXIT_DATA_ERROR, prefix="[bold red]unexpected error, nothing written:[/] "
            )
        return fail(message, code)
