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
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.collector import collection_paused
from app.portfolios import store
from app.portfolios.book import (
    fill_entry_prices,
    position_values,
    priced_series,
    require_room,
    series_of,
)
from app.portfolios.csv_reader import CsvBook, CsvTable, check_rows, read_table
from app.portfolios.market_data import data_statuses, load_hint, statuses_ahead
from app.portfolios.rejections import BookRuleError, ImportRejectedError, Rejection
from app.portfolios.repository import POSITION_FIELD_COLUMNS, HeldRow, Owner, held_rows
from app.portfolios.rules import PositionIn, utc_today
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
    with collection_paused():  # a row's objects live to the end: no heap-wide collections
        return await _import_locked(
            session, portfolio_id, data, mode=mode, as_of=as_of, dry_run=dry_run, today=today
        )


async def _import_locked(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    data: bytes | str,
    *,
    mode: Mode,
    as_of: date,
    dry_run: bool,
    today: date,
) -> ImportOutcome:
    table = read_table(data)
    ahead = None
    if isinstance(table, CsvTable) and mode == "append" and "entry_price" in table.columns:
        # Every row is added: the statuses of its symbols, asked while the rows are checked
        # (a file without entry prices learns which symbols have closes from filling them).
        ahead = await statuses_ahead(session, table.symbol_cells())
    try:
        book = (
            table
            if isinstance(table, CsvBook)
            else check_rows(table, entry_date=as_of, today=today)
        )
    finally:
        asked = await ahead if ahead is not None else {}
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

    series = {series_of(v) for _, v in to_add}
    statuses = {name: asked[name] for name in series if name in asked}
    statuses |= await data_statuses(
        session, series - statuses.keys(), priced=priced_series(book.positions)
    )
    added_ids: list[uuid.UUID | None] = [None] * len(to_add)
    if not dry_run:
        added_ids = list(
            await store.insert_positions(session, portfolio_id, [v for _, v in to_add])
        )
        # One entered on as_of was never held at a close: deleted, not closed.
        await store.close_positions(
            session, [r.id for r in to_close if r.entry_date < as_of], as_of
        )
        await store.delete_positions(session, [r.id for r in to_close if r.entry_date >= as_of])
        touched = [v["entry_date"] for _, v in to_add] + ([as_of] if to_close else [])
        await store.mark_stale(session, portfolio_id, min(touched, default=None))

    for (line, values), new_id in zip(to_add, added_ids, strict=True):
        outcome.added.append(_line(line, values, new_id, statuses.get(series_of(values))))
    outcome.closed = [_held_line(row) for row in to_close]
    outcome.data_hint = load_hint(s for s, status in statuses.items() if status)
    return outcome


def _diff(
    rows: list[tuple[int, PositionIn]], held: Sequence[HeldRow], outcome: ImportOutcome
) -> tuple[list[tuple[int, dict[str, Any]]], list[HeldRow]]:
    """(line, values) of the rows to add and the held rows to close; the rows that match a
    held position go to ``outcome.unchanged``. A row matches the first held position (by
    symbol, then id) not matched yet whose MATCHED_ALWAYS fields and the other fields the
    row gave are equal; each held position matches one row at most."""
    if not held:  # nothing to match (append, or an empty book): every row is added
        return [(line, position_values(position)) for line, position in rows], []
    # The held positions by the values of the fields a row compares (one index per set of
    # compared fields: a file's rows mostly give the same columns), each key's positions
    # in book order; one taken by a row is skipped wherever else it waits.
    indexes: dict[tuple[str, ...], dict[tuple[Any, ...], deque[int]]] = {}
    taken = [False] * len(held)
    to_add = []
    for line, position in rows:
        values = position_values(position)
        compared = _compared(frozenset(position.given))
        index = indexes.get(compared)
        if index is None:
            index = indexes[compared] = _held_by(held, compared)
        waiting = index.get(tuple([values[f] for f in compared]))
        found = None
        while waiting:
            candidate = waiting.popleft()
            if not taken[candidate]:
                found = candidate
                break
        if found is None:
            to_add.append((line, values))
        else:
            taken[found] = True
            outcome.unchanged.append(_held_line(held[found]))
    to_close = [row for row, was_taken in zip(held, taken, strict=True) if not was_taken]
    to_close.sort(key=lambda r: (r.symbol, r.id))
    return to_add, to_close


@lru_cache(maxsize=256)
def _compared(given: frozenset[str]) -> tuple[str, ...]:
    """The fields a row that gave ``given`` is compared on (defaults are not compared)."""
    return MATCHED_ALWAYS + tuple(
        f for f in POSITION_FIELD_COLUMNS if f in given and f not in MATCHED_ALWAYS
    )


def _held_by(
    held: Sequence[HeldRow], compared: tuple[str, ...]
) -> dict[tuple[Any, ...], deque[int]]:
    """The held positions (by their place in ``held``) under the values of ``compared``."""
    key = itemgetter(*(HeldRow._fields.index(f) for f in compared))
    index: dict[tuple[Any, ...], deque[int]] = defaultdict(deque)
    for place, row in enumerate(held):
        index[key(row)].append(place)
    return dict(index)


def _held_line(row: HeldRow) -> Line:
    return Line(None, row.symbol, row.position_type, row.quantity, row.entry_date, row.id)


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
