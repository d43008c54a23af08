"""A date range of one portfolio: inputs loaded once, dates computed and stored in chunks.

Every date is computed by :func:`app.risk_metrics.engine.compute_portfolio_date`, the
function the single-date run uses, and stored with
:func:`app.risk_metrics.repository.store_portfolio_dates` (COPY), one transaction per
chunk of whole dates: a run stopped at any point leaves whole dates only, and a re-run
replaces them with the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from app.benchmarks.repository import weights_on_or_before
from app.core.db import AsyncSessionLocal
from app.core.types import DEFAULT_BENCHMARK
from app.market_data.repository import MissingMarketDataError, PriceHistory, sectors_of
from app.portfolios.repository import ANY_OWNER, active_positions, get_portfolio
from app.risk_metrics import repository
from app.risk_metrics.engine import PortfolioRiskSummary, compute_portfolio_date

CHUNK_DATES = 21
"""Dates stored per transaction: large enough that round trips stop mattering, small
enough that Ctrl-C stops soon and a chunk's rows stay a few MB at 5,000 positions."""


@dataclass
class ChunkStored:
    """One committed chunk of a portfolio's dates."""

    portfolio_id: uuid.UUID
    portfolio_name: str
    summaries: list[PortfolioRiskSummary]
    failures: list[tuple[date, str]] = field(default_factory=list)


async def backfill_portfolio(
    portfolio_id: uuid.UUID,
    dates: Sequence[date],
    history: PriceHistory,
    beta_window: int,
    *,
    chunk_dates: int = CHUNK_DATES,
    on_chunk: Callable[[ChunkStored], None] = lambda chunk: None,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Compute and store ``dates`` of one portfolio; ``stop()`` is asked after each chunk."""
    async with AsyncSessionLocal() as session:
        # Operator work: computed for every live portfolio, whoever owns it.
        portfolio = await get_portfolio(session, portfolio_id, owner=ANY_OWNER)
        held = {day: await active_positions(session, portfolio.id, day) for day in dates}
        series = sorted({p.series_symbol for positions in held.values() for p in positions})
        sectors = await sectors_of(session, series)
        benchmarks = {
            day: await weights_on_or_before(session, DEFAULT_BENCHMARK, asof=day) for day in dates
        }
    equity = float(portfolio.equity_balance) if portfolio.equity_balance is not None else None

    for first in range(0, len(dates), chunk_dates):
        chunk = ChunkStored(portfolio.id, portfolio.name, [])
        stored_dates: list[date] = []
        beta_rows, vol_rows, snapshots = [], [], []
        for day in dates[first : first + chunk_dates]:
            try:
                figures = compute_portfolio_date(
                    portfolio.id,
                    portfolio.name,
                    equity,
                    day,
                    held[day],
                    history,
                    sectors,
                    benchmarks[day],
                    beta_window,
                )
            except MissingMarketDataError as exc:
                chunk.failures.append((day, str(exc)))
                continue
            stored_dates.append(day)
            beta_rows.extend(figures.beta_rows)
            vol_rows.extend(figures.vol_rows)
            snapshots.append(figures.snapshot)
            chunk.summaries.append(figures.summary)
        if stored_dates:
            async with AsyncSessionLocal() as session, session.begin():
                await repository.store_portfolio_dates(
                    session,
                    portfolio.id,
                    stored_dates,
                    beta_window,
                    beta_rows,
                    vol_rows,
                    snapshots,
                )
        on_chunk(chunk)
        if stop():
            return


def _ignore_sigint() -> None:
    # Workers finish their portfolio; the parent decides when to stop (Ctrl-C there).
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def backfill_in_worker(
    portfolio_id: uuid.UUID,
    dates: Sequence[date],
    history: PriceHistory,
    beta_window: int,
    chunk_dates: int = CHUNK_DATES,
) -> list[ChunkStored]:
    """:func:`backfill_portfolio` in a worker process (its own event loop and engine)."""
    import asyncio

    chunks: list[ChunkStored] = []
    asyncio.run(
        backfill_portfolio(
            portfolio_id,
            dates,
            history,
            beta_window,
            chunk_dates=chunk_dates,
            on_chunk=chunks.append,
        )
    )
    return chunks


worker_initializer = _ignore_sigint
