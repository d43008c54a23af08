"""The risk engine: load a portfolio's book for a date, compute (app.formulas), persist.

``calculate_portfolio_risk`` writes, for one portfolio and calculation date:
- ``position_market_betas``: one row per held position with a beta (method OLS_SIMPLE,
  market SPY, ``window_days`` trading days of aligned returns); options carry their
  underlying's beta.
- ``position_volatility``: one row per held position whose series has a 21-day vol.
- ``portfolio_snapshots``: the risk columns of the (portfolio, date) row, created when
  missing (its valuation columns are filled only on creation, never overwritten).
All through COPY into temporary tables and one set-based upsert per table
(store.store_portfolio_dates, which the range run uses too); rows of this
portfolio and date that a re-run no longer produces (a position sold, a beta now
skipped) are deleted, so a re-run leaves exactly what one run leaves. The caller
commits (one transaction per portfolio-date).

Values that a column cannot hold (NUMERIC overflow, NaN) are stored as NULL, or the
row is skipped when the column is NOT NULL, and the reason is reported.
"""

from __future__ import annotations

import logging
import uuid
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.factors.definitions import factor_symbols
from app.factors.store import store_factor_dates
from app.formulas.book import DEFAULT_BETA_WINDOW, PortfolioFigures, analyse_book_dates
from app.formulas.har import HAR_HISTORY_DAYS
from app.models import Portfolio
from app.portfolios.repository import (
    ANY_OWNER,
    HeldPosition,
    HeldSpan,
    get_portfolio,
    held_series,
    positions_held_between,
)
from app.prices.repository import (
    MARKET_INDEX,
    MissingMarketDataError,
    PriceHistory,
    load_price_history,
    sectors_of,
)
from app.prices.sources import MixedPriceSourcesError, mixed_in_window, mixed_sources_error
from app.risk_metrics import store
from app.risk_metrics.as_held import as_held_figures, as_held_rows
from app.risk_metrics.pricing import Panel
from app.risk_metrics.rows import (
    FigureRows,
    as_held_values,
    finite,
    position_beta_rows,
    position_volatility_rows,
    snapshot_row,
    tail_risk_values,
)

logger = logging.getLogger(__name__)

HISTORY_DAYS = HAR_HISTORY_DAYS
"""Trading days of history loaded per calculation when the table has them (~10 years):
the HAR fit's sample, capped as app.formulas.har.HAR_HISTORY_DAYS explains. The
21/63-day vols, the 252-day percentile and the beta window take their own lengths from
the end of it."""


@dataclass
class PortfolioRiskSummary:
    """What one portfolio-date calculation did, for logs and the CLI's summary table.

    Its sector over/underweights are not here: they are the stored snapshot's against the
    portfolio's own benchmark (app.risk_metrics.service.portfolio_risk)."""

    portfolio_id: uuid.UUID
    portfolio_name: str
    calc_date: date
    positions: int = 0
    betas_written: int = 0
    volatility_written: int = 0
    beta_coverage: float | None = 0.0
    """None when the exposure of a position left out is unknown."""
    market_beta_weighted: float | None = None
    market_beta_direct: float | None = None
    realized_volatility_21d: float | None = None
    expected_volatility_21d: float | None = None
    hhi: float | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(symbol or column, reason) for every figure not stored."""
    excluded: list[tuple[str, str]] = field(default_factory=list)
    """(symbol, reason) of every position left out for want of a fresh price."""


NotComputed = MissingMarketDataError | MixedPriceSourcesError
"""Why a portfolio-date has no figures: no market prices yet, or prices of mixed sources."""


@dataclass
class PortfolioDateFigures:
    """The rows one portfolio-date stores, and what the calculation did."""

    summary: PortfolioRiskSummary
    beta_rows: FigureRows
    """app.risk_metrics.rows.BETA_RECORD columns."""
    vol_rows: FigureRows
    """app.risk_metrics.rows.VOL_RECORD columns."""
    snapshot: dict[str, Any]


def compute_portfolio_dates(
    portfolio_id: uuid.UUID,
    portfolio_name: str,
    equity: float | None,
    dates: Sequence[date],
    positions: Sequence[Sequence[HeldPosition]],
    history: PriceHistory,
    sectors: Mapping[str, str | None],
    beta_window: int,
    spans: Sequence[HeldSpan],
    *,
    threads: int | None = None,
    stale_after: int | None = None,
    risk_free_rate: float | None = None,
) -> list[PortfolioDateFigures | NotComputed]:
    """Every figure of one portfolio on each of ``dates`` (ascending; ``positions[k]`` is
    date k's) from loaded inputs, in one vectorised pass (no database): the single-date run
    and the range run both go through here (a portfolio's over/underweights are read from its
    stored snapshot against its own benchmark: app.risk_metrics.service). ``spans``: the
    portfolio's positions with the days they were held (the book as held each day, behind
    ``market_beta_direct`` and the realized drawdown), at least those held in the last
    :func:`app.risk_metrics.as_held.as_held_rows` trading days before each date.
    ``risk_free_rate``: annual (default: the RISK_FREE_RATE setting).

    Date k's figures are those of the last ``HISTORY_DAYS`` + 1 trading days of prices on
    or before it; a date before the first market price gets the error instead, and so does
    a date whose window reads one series from two sources (app.prices.sources). A position
    without a fresh price on the date (``stale_after`` trading days, default the
    ``STALE_PRICE_TRADING_DAYS`` setting: app.formulas.freshness) gets no figures and is
    named in the summary and the snapshot. ``threads``: see
    :data:`app.formulas.blocks.SERIES_THREADS`."""
    max_age = get_settings().stale_price_trading_days if stale_after is None else stale_after
    out: list[PortfolioDateFigures | NotComputed] = []
    if risk_free_rate is None:
        risk_free_rate = get_settings().risk_free_rate
    ends = np.array([bisect_right(history.dates, day) - 1 for day in dates], dtype=np.intp)
    computable = [k for k in range(len(dates)) if ends[k] >= 1]
    refused = _mixed_source_windows(history, positions, ends, computable)
    refused |= _mixed_as_held_windows(history, spans, ends, computable, beta_window, refused)
    computable = [k for k in computable if k not in refused]
    series = sorted({p.series_symbol for k in computable for p in positions[k]})
    column_of_symbol = {s: j for j, s in enumerate(history.symbols)}
    column_of = {s: j for j, s in enumerate(series)}
    results: dict[int, PortfolioDateFigures] = {}
    if computable:
        # Only the rows some date's window reaches take part.
        first = max(0, int(ends[computable].min()) - HISTORY_DAYS)
        last = int(ends[computable].max()) + 1
        panel = Panel(
            history, first, last, [column_of_symbol[s] for s in series], column_of, max_age
        )
        books = [
            panel.book(positions[k], row, dates[k])
            for k, row in zip(computable, (ends[computable] - first).tolist(), strict=True)
        ]
        book = analyse_book_dates(
            panel.closes,
            history.market[first:last],
            series,
            ends[computable] - first,
            [b.cols for b in books],
            [b.exposures for b in books],
            equity,
            {s: sectors.get(s) for s in series},
            beta_window=beta_window,
            history=HISTORY_DAYS,
            threads=threads,
            uncovered=[b.uncovered for b in books],
            risk_free_rate=risk_free_rate,
        )
        held_book = as_held_figures(history, spans, ends[computable].tolist(), equity, beta_window)
        for n, k in enumerate(computable):
            day, held, dated = dates[k], positions[k], books[n]
            summary = PortfolioRiskSummary(portfolio_id, portfolio_name, day)
            summary.positions = len(held)
            summary.excluded.extend((e.symbol, e.detail) for e in dated.excluded)
            figures = book.portfolio[n]
            beta_rows = position_beta_rows(
                book.series_betas.at(n),
                dated.figured,
                dated.figured_cols,
                day,
                summary.skipped,
                ids=dated.figured_ids,
            )
            vol_rows = position_volatility_rows(
                book.series_volatility.at(n),
                dated.figured,
                dated.figured_cols,
                day,
                summary.skipped,
                ids=dated.figured_ids,
            )
            snapshot = snapshot_row(
                figures,
                portfolio_id,
                day,
                len(held),
                summary.skipped,
                [e.as_json() for e in dated.excluded],
            )
            snapshot |= tail_risk_values(book.tail_risk, n, summary.skipped)
            snapshot |= as_held_values(held_book, n, summary.skipped)
            _summarise(summary, figures, len(beta_rows), len(vol_rows))
            summary.market_beta_direct = snapshot["market_beta_direct"]
            results[k] = PortfolioDateFigures(summary, beta_rows, vol_rows, snapshot)
    for k, day in enumerate(dates):
        if k in results:
            out.append(results[k])
        elif k in refused:
            out.append(refused[k])
        elif ends[k] < 0:
            out.append(MissingMarketDataError(f"no {MARKET_INDEX} price on or before {day}"))
        else:
            out.append(
                MissingMarketDataError(f"no {MARKET_INDEX} return on or before {day}: one price")
            )
    return out


def _mixed_source_windows(
    history: PriceHistory,
    positions: Sequence[Sequence[HeldPosition]],
    ends: NDArray[np.intp],
    computable: list[int],
) -> dict[int, MixedPriceSourcesError]:
    """The dates (indexes) whose window of prices reads a held series, or the market
    index, from more than one source, with the reason."""
    if not history.mixed_sources:
        return {}
    refused: dict[int, MixedPriceSourcesError] = {}
    read: dict[int, set[str]] = {}  # the series each book reads (dates share book lists)
    for k in computable:
        held = positions[k]
        if id(held) not in read:
            read[id(held)] = {p.series_symbol for p in held} | {MARKET_INDEX}
        start = history.dates[max(0, int(ends[k]) - HISTORY_DAYS)]
        end = history.dates[int(ends[k])]
        mixed = mixed_in_window(history.mixed_sources, read[id(held)], start, end)
        if mixed:
            refused[k] = mixed_sources_error(mixed, start, end)
    return refused


def _mixed_as_held_windows(
    history: PriceHistory,
    spans: Sequence[HeldSpan],
    ends: NDArray[np.intp],
    computable: list[int],
    beta_window: int,
    refused: Mapping[int, MixedPriceSourcesError],
) -> dict[int, MixedPriceSourcesError]:
    """The dates (indexes, besides ``refused``) whose as-held window (the book as held each
    day, app.risk_metrics.as_held) reads a series from more than one source."""
    if not history.mixed_sources:
        return {}
    out: dict[int, MixedPriceSourcesError] = {}
    for k in computable:
        if k in refused:
            continue
        start = history.dates[max(0, int(ends[k]) - as_held_rows(beta_window))]
        end = history.dates[int(ends[k])]
        read = {
            s.position.series_symbol
            for s in spans
            if s.first_day <= end and (s.last_day is None or s.last_day >= start)
        }
        mixed = mixed_in_window(history.mixed_sources, read, start, end)
        if mixed:
            out[k] = mixed_sources_error(mixed, start, end)
    return out


def compute_portfolio_date(
    portfolio_id: uuid.UUID,
    portfolio_name: str,
    equity: float | None,
    calc_date: date,
    positions: Sequence[HeldPosition],
    history: PriceHistory,
    sectors: Mapping[str, str | None],
    beta_window: int,
    spans: Sequence[HeldSpan],
) -> PortfolioDateFigures:
    """:func:`compute_portfolio_dates` for one date (its NotComputed error raised)."""
    (figures,) = compute_portfolio_dates(
        portfolio_id,
        portfolio_name,
        equity,
        [calc_date],
        [positions],
        history,
        sectors,
        beta_window,
        spans,
    )
    if not isinstance(figures, PortfolioDateFigures):
        raise figures
    return figures


def _equity(portfolio: Portfolio) -> float | None:
    return float(portfolio.equity_balance) if portfolio.equity_balance is not None else None


async def shared_history(
    session: AsyncSession, portfolio_ids: Sequence[uuid.UUID], start: date, end: date
) -> PriceHistory:
    """Prices of every series the portfolios hold and of the factors' ETFs, from
    ``HISTORY_DAYS`` trading days before ``start`` through ``end``: loaded once for a run of
    many portfolio-dates (a date's figures read only their own window of it)."""
    return await load_price_history(
        session,
        [*await held_series(session, portfolio_ids), *factor_symbols()],
        start=start,
        end=end,
        rows_before_start=HISTORY_DAYS,
    )


def lacks_series(history: PriceHistory, spans: Sequence[HeldSpan]) -> bool:
    """Whether a position of ``spans`` moves with a series ``history`` has no column for:
    the book gained a symbol after a run loaded its prices (load them again)."""
    known = set(history.symbols)
    return any(span.position.series_symbol not in known for span in spans)


async def calculate_portfolio_risk(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    calc_date: date,
    *,
    history: PriceHistory | None = None,
    beta_window: int = DEFAULT_BETA_WINDOW,
) -> PortfolioRiskSummary:
    """Compute and upsert every risk figure of one portfolio on ``calc_date``.

    ``history`` may be preloaded for many dates and portfolios at once; it is loaded here
    when not given, or when the book holds a series it lacks (a symbol added since).
    Figures are as of the last trading day on or before ``calc_date`` and stored under
    ``calc_date``.
    """
    # Operator work: computed for every live portfolio, whoever owns it.
    portfolio = await get_portfolio(session, portfolio_id, owner=ANY_OWNER)
    if history is None:
        history = await shared_history(session, [portfolio.id], calc_date, calc_date)
    # The book as held each day: every position held since the prices begin.
    spans = await positions_held_between(
        session, portfolio.id, history.dates[0] if history.dates else calc_date, calc_date
    )
    if lacks_series(history, spans):  # the book gained a symbol after the run loaded prices
        history = await shared_history(session, [portfolio.id], calc_date, calc_date)
        spans = await positions_held_between(
            session, portfolio.id, history.dates[0] if history.dates else calc_date, calc_date
        )
    positions = [s.position for s in spans if s.held_on(calc_date)]
    series = sorted({p.series_symbol for p in positions})
    sectors = await sectors_of(session, series)
    figures = compute_portfolio_date(
        portfolio.id,
        portfolio.name,
        _equity(portfolio),
        calc_date,
        positions,
        history,
        sectors,
        beta_window,
        spans,
    )
    await session.flush()
    await store.store_portfolio_dates(
        session,
        portfolio.id,
        [calc_date],
        beta_window,
        figures.beta_rows,
        figures.vol_rows,
        [figures.snapshot],
    )
    await store_factor_dates(
        session,
        portfolio.id,
        _equity(portfolio),
        [calc_date],
        [positions],
        history,
        beta_window,
        history_days=HISTORY_DAYS,
    )
    return figures.summary


def _summarise(
    summary: PortfolioRiskSummary, fig: PortfolioFigures, betas_written: int, vols_written: int
) -> None:
    summary.betas_written = betas_written
    summary.volatility_written = vols_written
    summary.beta_coverage = fig.beta_coverage
    summary.market_beta_weighted = fig.market_beta_weighted
    if fig.volatility is not None:
        summary.realized_volatility_21d = finite(fig.volatility.realized_vol_21d[0])
        summary.expected_volatility_21d = finite(fig.volatility.har.expected_vol[0])
    summary.hhi = fig.concentration.hhi if fig.concentration else None
