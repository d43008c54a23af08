"""A date range of one portfolio: inputs loaded once, all dates computed in one vectorised
pass, stored in chunks of whole dates.

The figures come from :func:`app.risk_metrics.calculation.compute_portfolio_dates` and
:func:`app.factors.engine.compute_factor_dates`, the functions the single-date run uses too
(over its one date), and are stored with :func:`app.risk_metrics.store.store_portfolio_dates`
and :func:`app.factors.store.store_encoded_factor_rows` (COPY, encoded beside the chunk's
other writes), one transaction per chunk of whole
dates: a run stopped at any point leaves whole dates only, and a re-run
replaces them with the same rows. Dates are computed a pass at a time (a few chunks,
fewer for large books), so memory stays flat however long the range.
"""

from __future__ import annotations

import asyncio
import uuid
from bisect import bisect_right
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.factors.engine import compute_factor_dates
from app.factors.store import (
    EncodedFactorRows,
    encode_factor_rows,
    store_encoded_factor_rows,
)
from app.portfolios.repository import (
    ANY_OWNER,
    HeldPosition,
    HeldSpan,
    get_portfolio,
    positions_held_between,
)
from app.prices.repository import PriceHistory, sectors_of
from app.risk_metrics import store
from app.risk_metrics.calculation import (
    HISTORY_DAYS,
    NotComputed,
    PortfolioDateFigures,
    PortfolioRiskSummary,
    compute_portfolio_dates,
    lacks_series,
    shared_history,
)
from app.risk_metrics.rows import BETA_FIGURES, VOL_FIGURES, FigureRows

CHUNK_DATES = 21
"""Fewest dates stored per transaction (the default for large books)."""

CHUNK_ROWS = 105_000
"""Position-dates per transaction by default (21 dates at 5,000 positions; a whole year
of a 21-position book): large enough that round trips stop mattering, small enough that
Ctrl-C stops within a second or so and a chunk's rows stay a few MB."""


def default_chunk_dates(positions: int) -> int:
    """Dates per transaction for a book of ``positions`` (see CHUNK_ROWS)."""
    return max(CHUNK_DATES, CHUNK_ROWS // max(positions, 1))


WRITERS = 2
"""Connections a portfolio's chunks are written over at once. The server's work per row
(heap, five index entries, foreign-key checks) bounds a large backfill, and one
connection is one server process: one core. Each chunk is still its own transaction of
whole dates (chunks may commit out of order)."""


PASS_CELLS = 250_000
"""Series x dates computed per pass (a multiple of the chunk): every figure array of a
pass is this size, whatever the range's length."""


@dataclass
class ChunkStored:
    """One committed chunk of a portfolio's dates."""

    portfolio_id: uuid.UUID
    portfolio_name: str
    summaries: list[PortfolioRiskSummary]
    failures: list[tuple[date, str]] = field(default_factory=list)


def pass_dates(series: int, chunk_dates: int) -> int:
    """Dates per compute pass for a book of ``series`` price series."""
    chunks = max(1, PASS_CELLS // max(series, 1) // chunk_dates)
    return chunks * chunk_dates


def _held_by_date(spans: Sequence[HeldSpan], dates: Sequence[date]) -> list[list[HeldPosition]]:
    """The positions held on each date; consecutive dates with the same book share one
    list (the engine then builds its arrays once)."""
    # A position's state changes on its first held day and the day after its last:
    # between two such days the list is the same.
    changes = sorted(
        {s.first_day for s in spans}
        | {s.last_day + timedelta(days=1) for s in spans if s.last_day is not None}
    )
    out: list[list[HeldPosition]] = []
    previous: date | None = None
    for day in dates:
        after = bisect_right(changes, previous) if previous is not None else 0
        if previous is None or (after < len(changes) and changes[after] <= day):
            current = [s.position for s in spans if s.held_on(day)]
        out.append(current)
        previous = day
    return out


async def backfill_portfolio(
    engine: AsyncEngine,
    portfolio_id: uuid.UUID,
    dates: Sequence[date],
    history: PriceHistory,
    beta_window: int,
    *,
    chunk_dates: int | None = None,
    on_chunk: Callable[[ChunkStored], None] = lambda chunk: None,
    stop: Callable[[], bool] = lambda: False,
    writers: int = WRITERS,
) -> None:
    """Compute and store ``dates`` (ascending) of one portfolio through ``engine``,
    ``chunk_dates`` per transaction (default: :func:`default_chunk_dates`) over ``writers``
    connections at once; ``stop()`` is asked after each chunk."""
    if not dates:
        return
    async with AsyncSession(engine) as session:
        # Operator work: computed for every live portfolio, whoever owns it.
        portfolio = await get_portfolio(session, portfolio_id, owner=ANY_OWNER)
        # The book as held each day (app.risk_metrics.as_held) reaches back before the
        # range: every position held since the prices begin; the dates' own are those
        # held on some day of the range.
        as_held = await positions_held_between(
            session, portfolio.id, min(history.dates[0], dates[0]), dates[-1]
        )
        if lacks_series(history, as_held):  # a symbol added since the run loaded prices
            history = await shared_history(session, [portfolio.id], dates[0], dates[-1])
            as_held = await positions_held_between(
                session, portfolio.id, min(history.dates[0], dates[0]), dates[-1]
            )
        spans = [s for s in as_held if s.last_day is None or s.last_day >= dates[0]]
        sectors = await sectors_of(session, sorted({s.position.series_symbol for s in spans}))
    equity = float(portfolio.equity_balance) if portfolio.equity_balance is not None else None
    held = _held_by_date(spans, dates)
    if chunk_dates is None:
        chunk_dates = default_chunk_dates(max((len(h) for h in held), default=0))
    per_pass = pass_dates(len({s.position.series_symbol for s in spans}), chunk_dates)

    def compute(first: int) -> list[PortfolioDateFigures | NotComputed]:
        span = slice(first, first + per_pass)
        return compute_portfolio_dates(
            portfolio.id,
            portfolio.name,
            equity,
            dates[span],
            held[span],
            history,
            sectors,
            beta_window,
            as_held,
            threads=1,  # the other core is the writes'
        )

    def factor_rows(days: list[date], books: list[list[HeldPosition]]) -> EncodedFactorRows:
        return encode_factor_rows(
            compute_factor_dates(
                equity, days, books, history, beta_window, history_days=HISTORY_DAYS
            )
        )

    async def store_chunk(
        connection: AsyncConnection,
        first: int,
        start: int,
        computed: list[PortfolioDateFigures | NotComputed],
    ) -> ChunkStored:
        chunk = ChunkStored(portfolio.id, portfolio.name, [])
        stored_dates: list[date] = []
        beta_rows: list[FigureRows] = []
        vol_rows: list[FigureRows] = []
        snapshots = []
        stored_books: list[list[HeldPosition]] = []
        for day, book, figures in zip(
            dates[first + start : first + start + chunk_dates],
            held[first + start : first + start + chunk_dates],
            computed[start : start + chunk_dates],
            strict=True,
        ):
            if not isinstance(figures, PortfolioDateFigures):
                chunk.failures.append((day, str(figures)))
                continue
            stored_dates.append(day)
            stored_books.append(book)
            beta_rows.append(figures.beta_rows)
            vol_rows.append(figures.vol_rows)
            snapshots.append(figures.snapshot)
            chunk.summaries.append(figures.summary)
        if not stored_dates:
            return chunk
        # The chunk's factor rows are computed and encoded (numpy, in a thread) while its
        # other rows are written: the server's work and the fits overlap.
        factors = asyncio.ensure_future(asyncio.to_thread(factor_rows, stored_dates, stored_books))
        try:
            async with AsyncSession(bind=connection) as session, session.begin():
                # The commit does not wait for its WAL to reach disk: a server crash can
                # lose the last chunks committed (whole dates, never part of one), and a
                # re-run stores them again; a backfill needs no more.
                await session.execute(text("SET LOCAL synchronous_commit = off"))
                await store.store_portfolio_dates(
                    session,
                    portfolio.id,
                    stored_dates,
                    beta_window,
                    FigureRows.concat(beta_rows, len(BETA_FIGURES)),
                    FigureRows.concat(vol_rows, len(VOL_FIGURES)),
                    snapshots,
                )
                await store_encoded_factor_rows(
                    session, portfolio.id, stored_dates, beta_window, await factors
                )
        finally:
            if not factors.done():  # a failed write: the thread's result is not wanted
                factors.cancel()
        return chunk

    async with AsyncExitStack() as stack:
        # ``writers`` connections for the portfolio's chunks, one transaction each.
        connections = [
            await stack.enter_async_context(engine.connect()) for _ in range(max(1, writers))
        ]

        async def store_pass(
            first: int, computed: list[PortfolioDateFigures | NotComputed]
        ) -> bool:
            """Store a pass, its chunks shared out over the connections; False once
            ``stop()`` asks to stop (each connection ends after its chunk in flight)."""
            starts = iter(range(0, len(computed), chunk_dates))  # each chunk taken once
            stopped = False

            async def write(connection: AsyncConnection) -> None:
                nonlocal stopped
                for start in starts:
                    on_chunk(await store_chunk(connection, first, start, computed))
                    if stopped or stop():
                        stopped = True
                        return

            # A failing chunk cancels the others in flight: their transactions roll back.
            async with asyncio.TaskGroup() as group:
                for connection in connections:
                    group.create_task(write(connection))
            return not stopped

        await _store_passes(compute, store_pass, len(dates), per_pass)


async def _store_passes(
    compute: Callable[[int], list[PortfolioDateFigures | NotComputed]],
    store_pass: Callable[
        [int, list[PortfolioDateFigures | NotComputed]], Coroutine[Any, Any, bool]
    ],
    days: int,
    per_pass: int,
) -> None:
    """Compute pass after pass in a thread while the previous pass is stored: the
    database works on one core, numpy on the other."""
    storing: asyncio.Task[bool] | None = None
    try:
        for first in range(0, days, per_pass):
            computed = await asyncio.to_thread(compute, first)
            if storing is not None and not await storing:
                return
            storing = asyncio.create_task(store_pass(first, computed))
    finally:
        if storing is not None:
            await storing  # a chunk in flight is committed (or fails) whole
