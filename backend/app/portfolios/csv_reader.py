"""A book as a CSV file: what the API's import and the CLI read.

UTF-8 with or without a byte-order mark; comma or semicolon separated (whichever the
header uses); header names case-insensitive, in any order, each a field of
app.portfolios.rules.PositionIn (``symbol`` and ``quantity`` are required). Amounts are
plain numbers (``1234.5``, ``-10``); thousands separators and a currency sign only inside
quotes (``"$1,234.50"``), where they cannot be mistaken for a separator. A negative
quantity means short when the row names no type (SHORT, or a short call or put for an
OCC symbol) or a short one; with a long type it is an error. Dates are
YYYY-MM-DD; an empty cell is an omitted value.

Nothing stops at the first problem: every row is checked and every bad one reported
(line and field). Only a file that cannot be read as a table at all (not UTF-8, no
header, an unknown column, a quote left open, more than MAX_POSITIONS rows) is one
problem for the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from app.core.input_files import parse_iso_date, shown
from app.portfolios.rejections import Rejection, rejections_of
from app.portfolios.rules import (
    MAX_POSITIONS,
    POSITION_FIELDS,
    SHORT_TYPES,
    PositionIn,
    book_context,
)

REQUIRED_COLUMNS = ("symbol", "quantity")
AMOUNT_COLUMNS = frozenset({"quantity", "entry_price", "exit_price", "strike_price"})
DATE_COLUMNS = frozenset({"entry_date", "exit_date", "expiration_date"})
CURRENCY_SIGNS = "$€£¥"

_PLAIN = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PLAIN_AMOUNT = re.compile(rf"[+-]?{_PLAIN}")
_QUOTED_AMOUNT = re.compile(
    rf"(?P<sign>[+-]?)\s*[{CURRENCY_SIGNS}]?\s*(?P<sign2>[+-]?)"
    rf"(?P<number>\d{{1,3}}(?:,\d{{3}})+(?:\.\d*)?|{_PLAIN})\s*[{CURRENCY_SIGNS}]?"
)


class CsvSyntaxError(ValueError):
    """The text is not a table: where (a line) and what."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class Record(NamedTuple):
    line: int
    """The line the record starts on (a quoted value may span lines)."""
    cells: list[str]
    quoted: frozenset[int]
    """The positions of the cells that were quoted."""


_UNQUOTED: frozenset[int] = frozenset()


def decode(data: bytes) -> str:
    """UTF-8 text, a byte-order mark dropped; CsvSyntaxError naming the line otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvSyntaxError(
            data.count(b"\n", 0, exc.start) + 1,
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x}): save it as UTF-8",
        ) from None


def records(text: str, delimiter: str) -> Iterator[Record]:
    """The records of ``text``, blank lines skipped. A line without quotes is split as it
    is (the fast path); one with quotes is read cell by cell, as RFC 4180 quotes them
    (``""`` inside quotes is one quote, a quoted cell may hold separators and line
    breaks; spaces around a quoted cell are ignored)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    index, position, count = 0, 0, len(lines)
    while index < count:
        raw = lines[index]
        if '"' not in raw:
            if raw.strip():
                yield Record(index + 1, raw.split(delimiter), _UNQUOTED)
            index, position = index + 1, position + len(raw) + 1
            continue
        cells, quoted, after = _quoted_record(text, position, delimiter, index + 1)
        yield Record(index + 1, cells, quoted)
        index += text.count("\n", position, after)
        position = after


def _quoted_record(
    text: str, position: int, delimiter: str, line: int
) -> tuple[list[str], frozenset[int], int]:
    """The cells of the record at ``position``, which of them were quoted, and where the
    next record starts."""
    cells: list[str] = []
    quoted: set[int] = set()
    end = len(text)
    while True:
        start = position
        while position < end and text[position] == " ":
            position += 1
        if position < end and text[position] == '"':
            parts, position = [], position + 1
            while True:
                quote = text.find('"', position)
                if quote == -1:
                    raise CsvSyntaxError(line, "a quote opened on this line is never closed")
                parts.append(text[position:quote])
                if text.startswith('"', quote + 1):
                    parts.append('"')
                    position = quote + 2
                    continue
                position = quote + 1
                break
            while position < end and text[position] == " ":
                position += 1
            quoted.add(len(cells))
            cells.append("".join(parts))
        else:
            stops = [i for i in (text.find(delimiter, start), text.find("\n", start)) if i != -1]
            position = min(stops) if stops else end
            cell = text[start:position]
            if '"' in cell:
                raise CsvSyntaxError(
                    line, f"a quote inside the unquoted value {shown(cell)}: quote it whole"
                )
            cells.append(cell)
        if position >= end or text[position] == "\n":
            return cells, frozenset(quoted), position + 1
        if text[position] != delimiter:
            raise CsvSyntaxError(line, "text after a closing quote: put the whole value in quotes")
        position += 1


def delimiter_of(header: str) -> str:
    """Semicolon when the header line has more semicolons than commas, else comma."""
    return ";" if header.count(";") > header.count(",") else ","


def amount(text: str, quoted: bool) -> Decimal:
    """A plain number; quoted, also with thousands separators and a currency sign.
    ValueError saying which rule the text breaks."""
    if (text.isascii() and text.isdigit()) or _PLAIN_AMOUNT.fullmatch(text):  # fast first
        return Decimal(text)
    match = _QUOTED_AMOUNT.fullmatch(text)
    if match is None:
        point = " with '.' as the decimal point" if "," in text else ""
        raise ValueError(f"must be a number{point}, got {shown(text)}")
    if not quoted:
        raise ValueError(
            f"{shown(text)} has a thousands separator or currency sign: write it as a plain "
            f'number, or quote it ("{text}")'
        )
    if match["sign"] and match["sign2"]:
        raise ValueError(f"must be a number, got {shown(text)}")
    try:
        value = Decimal(match["number"].replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"must be a number, got {shown(text)}") from None
    return -value if "-" in (match["sign"], match["sign2"]) else value


@dataclass(frozen=True)
class CsvBook:
    """The positions of a file by line, and every problem found (empty: all good)."""

    positions: list[tuple[int, PositionIn]]
    rejected: list[Rejection]


def read_book(
    data: bytes | str, *, entry_date: date, today: date, limit: int = MAX_POSITIONS
) -> CsvBook:
    """Every row of the file checked by the rules of a position (``entry_date`` is what a
    row without one gets; none may be after ``today``). More than ``limit`` rows is one
    problem for the whole file, and nothing else is checked."""
    table = read_table(data, limit=limit)
    if isinstance(table, CsvBook):
        return table
    return check_rows(table, entry_date=entry_date, today=today)


@dataclass(frozen=True)
class CsvTable:
    """A file read as a table (header checked, at most the limit of rows), not yet
    checked row by row (:func:`check_rows`)."""

    columns: list[str]
    body: list[Record]

    def symbol_cells(self) -> list[str]:
        """The symbol of each row as written, trimmed and upper-cased."""
        index = self.columns.index("symbol")
        return [r.cells[index].strip().upper() for r in self.body if len(r.cells) > index]


def read_table(data: bytes | str, *, limit: int = MAX_POSITIONS) -> CsvTable | CsvBook:
    """The file as a table, or (a CsvBook of its one problem) why it is not one."""
    try:
        text = decode(data) if isinstance(data, bytes) else data
        first = next((ln for ln in text.lstrip("\ufeff").splitlines() if ln.strip()), None)
        if first is None:
            return CsvBook([], [Rejection(None, None, _EMPTY)])
        rows = records(text, delimiter_of(first))
        header = next(rows)
        columns = _columns(header)
        body = list(_limited(rows, limit))
    except CsvSyntaxError as exc:
        return CsvBook([], [Rejection(exc.line, None, str(exc))])
    if not body:
        return CsvBook([], [Rejection(header.line, None, "the file has a header but no rows")])
    return CsvTable(columns, body)


def check_rows(table: CsvTable, *, entry_date: date, today: date) -> CsvBook:
    """Every row of the table checked by the rules of a position (as :func:`read_book`)."""
    columns = table.columns
    context = book_context(today=today, entry_date=entry_date)
    good: list[tuple[int, dict[str, Any]]] = []
    rejected: list[Rejection] = []
    for record in table.body:
        values, problems = _values(record, columns)
        if problems:
            rejected.extend(problems)
        else:
            good.append((record.line, values))
    try:  # every row in one call: the common case, a good file
        checked = _POSITIONS.validate_python([values for _, values in good], context=context)
        return CsvBook([(line, p) for (line, _), p in zip(good, checked, strict=True)], rejected)
    except ValidationError:
        pass
    positions: list[tuple[int, PositionIn]] = []
    for line, values in good:
        try:
            positions.append((line, PositionIn.model_validate(values, context=context)))
        except ValidationError as exc:
            rejected.extend(rejections_of(exc, line))
    rejected.sort(key=lambda r: r.line or 0)
    return CsvBook(positions, rejected)


_POSITIONS = TypeAdapter(list[PositionIn])


_EMPTY = "the file is empty: it needs a header such as symbol,quantity and a row per position"


def _columns(header: Record) -> list[str]:
    names = [name.strip().lower() for name in header.cells]
    for name in names:
        if name not in POSITION_FIELDS:
            known = ", ".join(POSITION_FIELDS)
            what = "a column without a name" if not name else f"an unknown column {shown(name)}"
            raise CsvSyntaxError(header.line, f"the header has {what}; the columns are {known}")
        if names.count(name) > 1:
            raise CsvSyntaxError(header.line, f"the header names {name} twice")
    if missing := [c for c in REQUIRED_COLUMNS if c not in names]:
        raise CsvSyntaxError(header.line, f"the header needs the column(s) {', '.join(missing)}")
    return names


def _limited(rows: Iterator[Record], limit: int) -> Iterator[Record]:
    for count, record in enumerate(rows, start=1):
        if count > limit:
            raise CsvSyntaxError(
                record.line,
                f"the file has more than {limit:,} rows: at most {limit:,} positions per "
                "import (split it)",
            )
        yield record


@lru_cache(maxsize=4096)
def _date(text: str) -> date:
    """parse_iso_date, once per distinct text (a book's rows share a few dates)."""
    return parse_iso_date(text)


def _values(record: Record, columns: list[str]) -> tuple[dict[str, Any], list[Rejection]]:
    """The row's non-empty cells as rule inputs (amounts and dates parsed, a negative
    quantity turned into a short type), or what is wrong with them."""
    if len(record.cells) != len(columns):
        extra = " (a trailing separator?)" if len(record.cells) == len(columns) + 1 else ""
        message = f"{len(record.cells)} values, but the header has {len(columns)}{extra}"
        return {}, [Rejection(record.line, None, message)]
    values: dict[str, Any] = {}
    problems: list[Rejection] = []
    for index, (name, raw) in enumerate(zip(columns, record.cells, strict=True)):
        text = raw.strip()
        if not text:
            continue
        try:
            if name in AMOUNT_COLUMNS:
                values[name] = amount(text, index in record.quoted)
            elif name in DATE_COLUMNS:
                values[name] = _date(text)
            else:
                values[name] = text
        except ValueError as exc:
            problems.append(Rejection(record.line, name, str(exc)))
    quantity = values.get("quantity")
    if isinstance(quantity, Decimal) and quantity < 0:
        given = str(values.get("position_type", "")).strip().upper()
        if given in SHORT_TYPES:
            values["quantity"] = -quantity
        elif not given:  # an option's symbol makes SHORT a short call or put
            values["quantity"], values["position_type"] = -quantity, "SHORT"
        else:
            problems.append(
                Rejection(
                    record.line,
                    "quantity",
                    f"a negative quantity means short, but position_type is {shown(given)}",
                )
            )
    return values, problems
