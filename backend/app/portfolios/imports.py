"""Importing a book from a CSV file (the API's import endpoint and
scripts/import_positions.py).

``append`` adds every row. ``replace`` reads the file as the whole book on ``as_of``: a
row that matches a position held at that day's close (same symbol, type and quantity,
and the same value of every other field the row gives) leaves it unchanged; the other
rows are added; the held positions no row matches are closed on ``as_of`` (one entered
on ``as_of`` itself was never held at a close: it is deleted instead).

All or nothing: every row is checked (the rules, the entry prices, the limits) before
anything is written, and one problem refuses the whole file with every bad row listed.
A dry run does the same and writes nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.portfolios import store
from app.portfolios.book import fill_entry_prices, position_values, require_room, series_of
from app.portfolios.csv_reader import read_book
from app.portfolios.market_data import data_statuses, load_hint
from app.portfolios.repository import POSITION_FIELD_COLUMNS, Owner, held_rows
from app.portfolios.rules import (
    BookRuleError,
    ImportRejectedError,
    PositionIn,
    Rejection,
    utc_today,
)
from app.portfolios.schemas import DataStatus, ImportResult, PositionLine

Mode = Literal["append", "replace"]
MATCHED_ALWAYS = ("symbol", "position_type", "quantity")
"""What a row and a held position must share to be one position (other fields only
when the row gives them)."""


@dataclass(slots=True)
class Line:
    """A position of the answer: a row of the file (``line``) or of the book (None)."""

    line: int | None
    symbol: str
    position_type: str
    quantity: Any
    entry_date: date
    position_id: uuid.UUID | None
    data_status: DataStatus | None = None


@dataclass
class ImportOutcome:
    dry_run: bool
    mode: Mode
    as_of: date
    added: list[Line] = field(default_factory=list)
    closed: list[Line] = field(default_factory=list)
    unchanged: list[Line] = field(default_factory=list)
    data_hint: str | None = None


async def import_book(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    data: bytes | str,
    *,
    owner: Owner,
    mode: Mode = "append",
    as_of: date | None = None,
    dry_run: bool = False,
    today: date | None = None,
) -> ImportOutcome:
    """Check the file against the rules and the book, then (unless ``dry_run``) write
    it: PortfolioNotFoundError, ImportRejectedError (every bad row), BookLimitError, or
    the outcome."""
    today = today or utc_today()
    as_of = as_of or today
    if as_of > today:
        problem = Rejection(None, "as_of", f"{as_of} is after today ({today})")
        raise BookRuleError([problem], part="query")
    await store.lock_portfolio(session, portfolio_id, owner=owner)
    book = read_book(data, entry_date=as_of, today=today)
    rejected = list(book.rejected)
    if mode == "replace":
        rejected += [
            Rejection(
                line,
                "entry_date",
                f"{p.entry_date} is after as_of {as_of}: a replacing file is the book on as_of",
            )
            for line, p in book.positions
            if p.entry_date is not None and p.entry_date > as_of
        ]
    rejected += await fill_entry_prices(session, book.positions)
    if rejected:
        raise ImportRejectedError(rejected)

    outcome = ImportOutcome(dry_run, mode, as_of)
    held = await held_rows(session, portfolio_id, as_of) if mode == "replace" else []
    to_add, to_close = _diff(book.positions, held, outcome)
    await require_room(
        session, portfolio_id, len(to_add) - sum(r.exit_date is None for r in to_close)
    )

    statuses = await data_statuses(session, (series_of(v) for _, v in to_add))
    added_ids: list[uuid.UUID | None] = [None] * len(to_add)
    if not dry_run:
        added_ids = list(
            await store.insert_positions(session, portfolio_id, [v for _, v in to_add])
        )
        closing = [r.id for r in to_close if r.entry_date < as_of]
        await store.close_positions(session, closing, as_of)
        for row in to_close:
            if row.entry_date >= as_of:
                await store.delete_position(session, row.id)
        touched = [v["entry_date"] for _, v in to_add] + ([as_of] if to_close else [])
        await store.mark_stale(session, portfolio_id, min(touched, default=None))

    for (line, values), new_id in zip(to_add, added_ids, strict=True):
        outcome.added.append(_line(line, values, new_id, statuses.get(series_of(values))))
    outcome.closed = [_line(None, row._mapping, row.id) for row in to_close]
    outcome.data_hint = load_hint(s for s, status in statuses.items() if status)
    return outcome


def _diff(
    rows: list[tuple[int, PositionIn]], held: Sequence[Row[Any]], outcome: ImportOutcome
) -> tuple[list[tuple[int, dict[str, Any]]], list[Row[Any]]]:
    """(line, values) of the rows to add and the held rows to close; the rows that match a
    held position go to ``outcome.unchanged``. Each held position matches one row at most."""
    if not held:  # nothing to match (append, or an empty book): every row is added
        return [(line, position_values(position)) for line, position in rows], []
    waiting: dict[tuple[Any, ...], list[Row[Any]]] = defaultdict(list)
    for row in held:
        waiting[tuple(row._mapping[f] for f in MATCHED_ALWAYS)].append(row)
    to_add = []
    for line, position in rows:
        values = position_values(position)
        candidates = waiting.get(tuple(values[f] for f in MATCHED_ALWAYS), [])
        found = next((r for r in candidates if _agrees(position, values, r)), None)
        if found is None:
            to_add.append((line, values))
        else:
            candidates.remove(found)
            outcome.unchanged.append(_line(None, found._mapping, found.id))
    to_close = [row for rows_left in waiting.values() for row in rows_left]
    to_close.sort(key=lambda r: (r.symbol, r.id))
    return to_add, to_close


def _agrees(position: PositionIn, values: dict[str, Any], held: Row[Any]) -> bool:
    """Every other field the row gave equals the held one (defaults are not compared)."""
    given = position.given
    return all(
        values[f] == held._mapping[f]
        for f in POSITION_FIELD_COLUMNS
        if f in given and f not in MATCHED_ALWAYS
    )


def _line(
    line: int | None,
    values: Any,
    position_id: uuid.UUID | None,
    status: DataStatus | None = None,
) -> Line:
    return Line(
        line,
        values["symbol"],
        values["position_type"],
        values["quantity"],
        values["entry_date"],
        position_id,
        status,
    )


def import_result(outcome: ImportOutcome) -> ImportResult:
    """The answer of an import, as the API sends it and the CLI prints it (--json)."""

    def lines(items: list[Line]) -> list[PositionLine]:
        return [PositionLine.model_validate(item, from_attributes=True) for item in items]

    return ImportResult(
        dry_run=outcome.dry_run,
        mode=outcome.mode,
        as_of=outcome.as_of,
        added=lines(outcome.added),
        closed=lines(outcome.closed),
        unchanged=lines(outcome.unchanged),
        rejected=[],
        data_hint=outcome.data_hint,
    )
