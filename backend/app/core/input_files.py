"""Reading the files users hand to the scripts (CSV, JSON), with one way to say what is wrong.

Every problem is a :class:`~app.core.errors.FileDataError` naming the file, line, column
or field and symbol where known. A path that cannot be used as an input file at all
(missing, a directory, a device such as ``/dev/zero``, too large) is a
:class:`~app.core.errors.FileArgumentError` (exit 2: fix the command). Values are checked
against the column they go to, so a file never fails half-way through a write.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Numeric, String

from app.core.errors import FileArgumentError, FileDataError

T = TypeVar("T")

MAX_INPUT_BYTES = 256 * 1024 * 1024
"""Larger files are refused before reading (split them): they would not fit in memory."""
_SHOWN_CHARS = 40  # of a bad value, in a message


def shown(text: str) -> str:
    """``text`` quoted for a one-line message: escapes control characters, cut if long."""
    if len(text) > _SHOWN_CHARS:
        return repr(text[:_SHOWN_CHARS]) + f" (+{len(text) - _SHOWN_CHARS:,} characters)"
    return repr(text)


def read_text(path: Path) -> str:
    """The whole of ``path`` as text: a regular file of at most MAX_INPUT_BYTES, UTF-8
    (a byte-order mark is allowed)."""
    try:
        if not path.exists():
            raise FileArgumentError(path, "no such file")
        if path.is_dir():
            raise FileArgumentError(path, "is a directory: give a file")
        if not path.is_file():
            raise FileArgumentError(path, "is not a regular file (a device or a pipe?)")
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise FileArgumentError(
                path, f"is {size:,} bytes, over the {MAX_INPUT_BYTES:,}-byte limit: split it"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise FileArgumentError(path, f"cannot read it ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise FileDataError(
            path,
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x}): save it as UTF-8",
            line=data.count(b"\n", 0, exc.start) + 1,
            column=column,
        ) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number here")


def parse_json(path: Path, text: str) -> Any:
    """JSON with floats as Decimal; NaN/Infinity, absurd nesting or numbers are errors."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise FileDataError(
            path, f"is not valid JSON ({exc.msg})", line=exc.lineno, column=exc.colno
        ) from None
    except RecursionError:
        raise FileDataError(path, "is not usable JSON (nested too deeply)") from None
    except ValueError as exc:  # parse_constant, or an integer of more than 4,300 digits
        raise FileDataError(path, f"is not usable JSON ({exc})") from None


# --- CSV ------------------------------------------------------------------------------


class FieldError(ValueError):
    """Raised by a row parser: ``field`` (a CSV column) holds ``problem``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class CsvRecord:
    line: int
    """First line of the record in the file (a quoted field may span several)."""
    values: dict[str, str]
    """Header name (stripped, lower case) -> value (stripped)."""


@dataclass(frozen=True)
class CsvTable:
    header: list[str]
    """Column names, stripped and lower case, in file order."""
    records: list[CsvRecord]


def read_csv(path: Path, text: str, *, required: set[str]) -> CsvTable:
    """A CSV with a header row. Header names are stripped and lower-cased, each named
    once and none blank; ``required`` ones must be present. Every record has exactly as
    many fields as the header (an extra trailing comma is an error); blank lines are
    skipped. Columns not asked for are kept but callers ignore them."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)

    def next_row() -> list[str] | None:
        try:
            return next(reader, None)
        except csv.Error as exc:
            raise FileDataError(
                path, f"is not valid CSV ({exc})", line=reader.line_num or 1
            ) from None

    header_row = next_row()
    while header_row == []:
        header_row = next_row()
    if header_row is None:
        needs = f": the header needs {','.join(sorted(required))}" if required else ""
        raise FileDataError(path, f"is empty{needs}")
    header = [name.strip().lower() for name in header_row]
    header_line = reader.line_num
    for position, name in enumerate(header, start=1):
        if not name:
            raise FileDataError(
                path, f"header column {position} has no name (a trailing comma?)", line=header_line
            )
        if header.index(name) != position - 1:
            raise FileDataError(path, f"header names {shown(name)} twice", line=header_line)
    if missing := required - set(header):
        raise FileDataError(
            path,
            f"missing column(s) {', '.join(sorted(missing))} (the header has "
            f"{shown(','.join(header))})",
            line=header_line,
        )
    records: list[CsvRecord] = []
    last_line = reader.line_num
    while (row := next_row()) is not None:
        first_line, last_line = last_line + 1, reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            extra = " (a trailing comma?)" if len(row) == len(header) + 1 and not row[-1] else ""
            raise FileDataError(
                path,
                f"{len(row)} fields, but the header has {len(header)}{extra}",
                line=first_line,
            )
        values = {name: value.strip() for name, value in zip(header, row, strict=True)}
        records.append(CsvRecord(first_line, values))
    return CsvTable(header, records)


def parse_csv(
    path: Path, text: str, *, required: set[str], parse: Callable[[dict[str, str]], T]
) -> list[tuple[int, T]]:
    """``(line, parse(values))`` for every record; a :class:`FieldError` from ``parse``
    becomes a FileDataError naming the line, the field and the record's symbol."""
    rows: list[tuple[int, T]] = []
    for record in read_csv(path, text, required=required).records:
        try:
            rows.append((record.line, parse(record.values)))
        except FieldError as exc:
            symbol = record.values.get("symbol", "")
            raise FileDataError(
                path,
                exc.problem,
                line=record.line,
                field=exc.field,
                symbol=symbol if _PRINTABLE_SYMBOL.fullmatch(symbol) else None,
            ) from None
    if not rows:
        raise FileDataError(path, "has a header but no data rows")
    return rows


_PRINTABLE_SYMBOL = re.compile(r"[\w.^=/-]{1,20}")

# --- values, checked against the column they are stored in -------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_iso_date(text: str) -> date:
    """YYYY-MM-DD exactly (``date.fromisoformat`` also takes 20251017 or 2025-W42-5)."""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"not a date (YYYY-MM-DD): {shown(text)}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {shown(text)}") from None


def _integer_bounds(column: ColumnElement[Any]) -> tuple[int, int]:
    bits = 64 if isinstance(column.type, BigInteger) else 32
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def numeric_limit(column: ColumnElement[Any]) -> Decimal:
    """The smallest magnitude a NUMERIC(p, s) column cannot hold: 10^(p - s)."""
    kind = column.type
    assert isinstance(kind, Numeric) and kind.precision is not None
    return Decimal(10) ** (kind.precision - (kind.scale or 0))


def decimal_value(text: str, field: str, column: ColumnElement[Any], *, positive: bool) -> Decimal:
    """A plain or exponent decimal that ``column`` (NUMERIC(p, s)) can store."""
    try:
        value = Decimal(text) if "_" not in text else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise FieldError(field, f"must be a number, got {shown(text)}")
    if abs(value) >= numeric_limit(column):
        raise FieldError(field, f"{shown(text)} is too large (at most {numeric_limit(column):,})")
    kind = column.type
    assert isinstance(kind, Numeric)
    stored = value.quantize(Decimal(1).scaleb(-(kind.scale or 0)))
    if positive and stored <= 0:
        raise FieldError(field, f"must be a positive number, got {shown(text)}")
    return value


def integer_value(text: str, field: str, column: ColumnElement[Any], *, minimum: int = 0) -> int:
    """A whole number in [minimum, the column's largest]."""
    if not re.fullmatch(r"[+-]?\d{1,20}", text):
        raise FieldError(field, f"must be a whole number, got {shown(text)}")
    value = int(text)
    low, high = _integer_bounds(column)
    if not max(low, minimum) <= value <= high:
        raise FieldError(field, f"must be between {max(low, minimum)} and {high}, got {value}")
    return value


def text_value(text: str, field: str, column: ColumnElement[Any]) -> str | None:
    """``text`` (None when blank) if it fits the VARCHAR(n) ``column``."""
    if not text:
        return None
    kind = column.type
    assert isinstance(kind, String)
    if kind.length is not None and len(text) > kind.length:
        raise FieldError(field, f"is longer than {kind.length} characters: {shown(text)}")
    if not text.isprintable():
        raise FieldError(field, f"holds control characters: {shown(text)}")
    return text


__all__ = [
    "MAX_INPUT_BYTES",
    "CsvRecord",
    "CsvTable",
    "FieldError",
    "decimal_value",
    "integer_value",
    "numeric_limit",
    "parse_csv",
    "parse_iso_date",
    "parse_json",
    "read_csv",
    "read_text",
    "shown",
    "text_value",
]


def versioned_tables(
    text: str,
    path: Path | str,
    table: str,
    error: type[FileDataError] = FileDataError,
) -> tuple[int, list[Any]]:
    """A versioned TOML file of ``[[table]]`` entries (``version = N`` and the tables,
    nothing else): its version and its entries, unchecked. ``error`` (FileDataError or a
    subclass) names the field of the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(path, f"not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"version", table})
    if unknown:
        raise error(path, f"unknown key (expected version and [[{table}]])", field=unknown[0])
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise error(path, "must be a whole number from 1", field="version")
    entries = data.get(table)
    if not isinstance(entries, list) or not entries:
        raise error(path, f"no {table}: add [[{table}]] tables", field=table)
    return version, entries
