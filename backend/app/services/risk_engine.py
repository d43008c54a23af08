"""The risk engine: load a portfolio's book for a date, compute (app.risk), persist.

``calculate_portfolio_risk`` writes, for one portfolio and calculation date:
- ``position_market_betas``: one row per held position with a beta (method OLS_SIMPLE,
  market SPY, ``window_days`` trading days of aligned returns); options carry their
  underlying's beta.
- ``position_volatility``: one row per held position whose series has a 21-day vol.
- ``portfolio_snapshots``: the risk columns of the (portfolio, date) row, created when
  missing (its valuation columns are filled only on creation, never overwritten).
All with INSERT ... ON CONFLICT DO UPDATE in bulk; rows of this portfolio and date that
a re-run no longer produces (a position sold, a beta now skipped) are deleted, so a
re-run leaves exactly what one run leaves. The service flushes; the caller commits (one
transaction per portfolio-date).

Values that a column cannot hold (NUMERIC overflow, NaN) are stored as NULL, or the
row is skipped when the column is NOT NULL, and the reason is reported.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Portfolio,
    PortfolioSnapshot,
    Position,
    PositionMarketBeta,
    PositionVolatility,
)
from app.models.snapshot import SNAPSHOT_RISK_COLUMNS
from app.risk.beta import BetaResult
from app.risk.book import DEFAULT_BETA_WINDOW, BookRisk, analyse_book
from app.risk.concentration import active_weights
from app.risk.exposure import signed_exposure
from app.risk.volatility import HAR_HISTORY_DAYS, VolatilityResult
from app.services.benchmark_queries import DEFAULT_BENCHMARK, weights_on_or_before
from app.services.errors import NotFoundError
from app.services.market_data import (
    MARKET_INDEX,
    PriceHistory,
    active_positions,
    load_price_history,
    sectors_of,
)

logger = logging.getLogger(__name__)

METHOD = "OLS_SIMPLE"
HISTORY_DAYS = HAR_HISTORY_DAYS
"""Trading days of history loaded per calculation when the table has them (~10 years):
the HAR fit's sample, capped as app.risk.volatility.HAR_HISTORY_DAYS explains. The
21/63-day vols, the 252-day percentile and the beta window take their own lengths from
the end of it."""


class PortfolioNotFoundError(NotFoundError):
    """The portfolio to calculate does not exist (or is deleted)."""


@dataclass
class PortfolioRiskSummary:
    """What one portfolio-date calculation did, for logs and the CLI's summary table."""

    portfolio_id: uuid.UUID
    portfolio_name: str
    calc_date: date
    positions: int = 0
    betas_written: int = 0
    volatility_written: int = 0
    beta_coverage: float = 0.0
    market_beta_weighted: float | None = None
    market_beta_direct: float | None = None
    realized_volatility_21d: float | None = None
    expected_volatility_21d: float | None = None
    hhi: float | None = None
    largest_overweight: tuple[str, float] | None = None
    largest_underweight: tuple[str, float] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(symbol or column, reason) for every figure not stored."""


def storable(value: float | None, precision: int, scale: int) -> float | None:
    """``value`` if a NUMERIC(precision, scale) column can hold it (after rounding), else None."""
    if value is None or not math.isfinite(value):
        return None
    limit = 10.0 ** (precision - scale)
    return value if abs(round(value, scale)) < limit else None


def _opt(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


async def _portfolio(session: AsyncSession, portfolio_id: uuid.UUID) -> Portfolio:
    portfolio = await session.scalar(
        select(Portfolio).where(Portfolio.id == portfolio_id, Portfolio.deleted_at.is_(None))
    )
    if portfolio is None:
        raise PortfolioNotFoundError(f"no portfolio {portfolio_id}")
    return portfolio


async def calculate_portfolio_risk(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    calc_date: date,
    *,
    history: PriceHistory | None = None,
    beta_window: int = DEFAULT_BETA_WINDOW,
) -> PortfolioRiskSummary:
    """Compute and upsert every risk figure of one portfolio on ``calc_date``.

    ``history`` may be preloaded for many dates at once (it must contain the positions'
    series); otherwise it is loaded here. Figures are as of the last trading day on or
    before ``calc_date`` and stored under ``calc_date``.
    """
    portfolio = await _portfolio(session, portfolio_id)
    summary = PortfolioRiskSummary(portfolio.id, portfolio.name, calc_date)
    positions = await active_positions(session, portfolio.id, calc_date)
    summary.positions = len(positions)
    series = sorted({p.series_symbol for p in positions})
    if history is None:
        history = await load_price_history(
            session, series, start=calc_date, end=calc_date, rows_before_start=HISTORY_DAYS
        )
    window = history.until(calc_date, HISTORY_DAYS + 1)

    columns = [window.column(s) for s in series]
    prices = window.closes[:, columns]
    position_series = np.array([series.index(p.series_symbol) for p in positions], dtype=np.intp)
    exposures = np.full(len(positions), np.nan)
    for i, p in enumerate(positions):
        closes = prices[:, position_series[i]]
        finite = np.flatnonzero(np.isfinite(closes))
        if finite.size:
            exposures[i] = signed_exposure(p.position_type, p.quantity, closes[finite[-1]])
        else:
            summary.skipped.append(
                (p.symbol, f"no {p.series_symbol} price on or before {calc_date}")
            )

    equity = float(portfolio.equity_balance) if portfolio.equity_balance is not None else None
    sectors = await sectors_of(session, series)
    book = analyse_book(
        prices,
        window.market,
        series,
        position_series,
        exposures,
        equity,
        sectors,
        beta_window=beta_window,
    )

    beta_rows = position_beta_rows(
        book.series_betas,
        positions,
        position_series,
        portfolio.id,
        calc_date,
        beta_window,
        summary.skipped,
    )
    vol_rows = position_volatility_rows(
        book.series_volatility, positions, position_series, calc_date, summary.skipped
    )
    await upsert_position_betas(session, beta_rows)
    await upsert_position_volatility(session, vol_rows)
    await _delete_stale(session, portfolio.id, calc_date, beta_window, beta_rows, vol_rows)

    benchmark = await weights_on_or_before(session, DEFAULT_BENCHMARK, asof=calc_date)
    await upsert_snapshot(
        session, _snapshot_row(book, portfolio.id, calc_date, len(positions), summary)
    )
    weights = {s: float(w) for s, w in benchmark.by_sector().items()} if benchmark else None
    _summarise(summary, book, weights, len(beta_rows), len(vol_rows))
    await session.flush()
    return summary


def position_beta_rows(
    b: BetaResult,
    positions: Sequence[Any],
    position_series: np.ndarray,
    portfolio_id: uuid.UUID,
    calc_date: date,
    beta_window: int,
    skipped: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    """position_market_betas rows for ``positions`` (each reads series ``position_series[i]``
    of ``b``); what cannot be stored is appended to ``skipped`` with the reason."""
    rows = []
    for p, j in zip(positions, position_series.tolist(), strict=True):
        if b.skip_reason[j] is not None:
            skipped.append((p.symbol, f"beta: {b.skip_reason[j]}"))
            continue
        beta = storable(float(b.beta[j]), 12, 6)
        if beta is None:
            skipped.append((p.symbol, f"beta {b.beta[j]:.4g} exceeds NUMERIC(12,6)"))
            continue
        rows.append(
            {
                "portfolio_id": portfolio_id,
                "position_id": p.id,
                "calc_date": calc_date,
                "beta": beta,
                "alpha": storable(_opt(b.alpha[j]), 12, 6),
                "r_squared": storable(_opt(b.r_squared[j]), 12, 6),
                "std_error": storable(_opt(b.std_error[j]), 12, 6),
                "p_value": storable(_opt(b.p_value[j]), 12, 6),
                "observations": int(b.observations[j]),
                "window_days": beta_window,
                "method": METHOD,
                "market_index": MARKET_INDEX,
            }
        )
    return rows


def position_volatility_rows(
    v: VolatilityResult,
    positions: Sequence[Any],
    position_series: np.ndarray,
    calc_date: date,
    skipped: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    """position_volatility rows, as position_beta_rows."""
    rows = []
    for p, j in zip(positions, position_series.tolist(), strict=True):
        vol_21 = storable(_opt(v.realized_vol_21d[j]), 10, 4)
        if vol_21 is None:
            skipped.append((p.symbol, "volatility: fewer than 17 of the last 21 returns"))
            continue
        if not math.isfinite(v.har.expected_vol[j]):
            skipped.append((p.symbol, f"expected_vol_21d: {v.har.skip_reason[j]}"))
        rows.append(
            {
                "position_id": p.id,
                "calculation_date": calc_date,
                "realized_vol_21d": vol_21,
                "realized_vol_63d": storable(_opt(v.realized_vol_63d[j]), 10, 4),
                "vol_daily": storable(_opt(v.har.vol_daily[j]), 10, 4),
                "vol_weekly": storable(_opt(v.har.vol_weekly[j]), 10, 4),
                "vol_monthly": storable(_opt(v.har.vol_monthly[j]), 10, 4),
                "expected_vol_21d": storable(_opt(v.har.expected_vol[j]), 10, 4),
                "vol_trend": v.trend[j],
                "vol_trend_strength": storable(_opt(v.trend_strength[j]), 10, 4),
                "vol_percentile": storable(_opt(v.percentile[j]), 10, 4),
                "observations": int(v.observations[j]),
                "model_r_squared": storable(_opt(v.har.r_squared[j]), 10, 4),
            }
        )
    return rows


def _snapshot_row(
    book: BookRisk,
    portfolio_id: uuid.UUID,
    calc_date: date,
    num_positions: int,
    summary: PortfolioRiskSummary,
) -> dict[str, Any]:
    fig = book.portfolio
    conc = fig.concentration
    vol = fig.volatility
    row: dict[str, Any] = {
        "portfolio_id": portfolio_id,
        "calculation_date": calc_date,
        # Valuation columns: set when this creates the row, never overwritten (see module doc).
        "gross_exposure": storable(fig.gross_exposure, 20, 2),
        "net_exposure": storable(fig.net_exposure, 20, 2),
        "long_value": storable(fig.long_exposure, 20, 2),
        "short_value": storable(fig.short_exposure, 20, 2),
        "num_positions": num_positions,
    }
    risk: dict[str, Any] = {
        "market_beta_weighted": storable(fig.market_beta_weighted, 10, 4),
        "market_beta_r_squared": storable(fig.market_beta_r_squared, 10, 4),
        "market_beta_observations": fig.market_beta_observations,
        "market_beta_direct": storable(fig.market_beta_direct, 10, 4),
        "sector_exposure": {s: round(w, 6) for s, w in fig.sector_exposure.items()} or None,
        "hhi": storable(conc.hhi, 10, 2) if conc else None,
        "effective_num_positions": storable(conc.effective_num_positions, 10, 2) if conc else None,
        "top_3_concentration": storable(conc.top_3, 10, 4) if conc else None,
        "top_10_concentration": storable(conc.top_10, 10, 4) if conc else None,
        "realized_volatility_21d": storable(_opt(vol.realized_vol_21d[0]), 10, 4) if vol else None,
        "realized_volatility_63d": storable(_opt(vol.realized_vol_63d[0]), 10, 4) if vol else None,
        "expected_volatility_21d": storable(_opt(vol.har.expected_vol[0]), 10, 4) if vol else None,
        "volatility_trend": vol.trend[0] if vol else None,
        "volatility_percentile": storable(_opt(vol.percentile[0]), 10, 4) if vol else None,
    }
    if vol is not None and not math.isfinite(vol.har.expected_vol[0]):
        summary.skipped.append(("expected_volatility_21d", str(vol.har.skip_reason[0])))
    for name, value in (
        ("market_beta_weighted", fig.market_beta_weighted),
        ("market_beta_direct", fig.market_beta_direct),
    ):
        if value is not None and risk[name] is None:
            summary.skipped.append((name, f"{value:.4g} exceeds NUMERIC(10,4)"))
    return row | risk


async def upsert_position_betas(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Bulk upsert on (portfolio_id, position_id, calc_date, method, window_days)."""
    if not rows:
        return
    stmt = pg_insert(PositionMarketBeta)
    update = {
        c: stmt.excluded[c]
        for c in (
            "beta",
            "alpha",
            "r_squared",
            "std_error",
            "p_value",
            "observations",
            "market_index",
        )
    }
    await session.execute(
        stmt.on_conflict_do_update(constraint="uq_position_market_betas_calc", set_=update), rows
    )


async def upsert_position_volatility(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Bulk upsert on (position_id, calculation_date)."""
    if not rows:
        return
    stmt = pg_insert(PositionVolatility)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in ("position_id", "calculation_date")}
    await session.execute(
        stmt.on_conflict_do_update(constraint="uq_position_volatility_position_date", set_=update),
        rows,
    )


async def upsert_snapshot(session: AsyncSession, row: dict[str, Any]) -> None:
    """Create the (portfolio, date) snapshot or update only its risk columns."""
    stmt = pg_insert(PortfolioSnapshot).values(row)
    await session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_portfolio_snapshots_portfolio_date",
            set_={c: stmt.excluded[c] for c in SNAPSHOT_RISK_COLUMNS},
        )
    )


async def _delete_stale(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    calc_date: date,
    beta_window: int,
    beta_rows: list[dict[str, Any]],
    vol_rows: list[dict[str, Any]],
) -> None:
    kept_betas = [r["position_id"] for r in beta_rows]
    await session.execute(
        delete(PositionMarketBeta).where(
            PositionMarketBeta.portfolio_id == portfolio_id,
            PositionMarketBeta.calc_date == calc_date,
            PositionMarketBeta.method == METHOD,
            PositionMarketBeta.window_days == beta_window,
            PositionMarketBeta.position_id.not_in(kept_betas),
        )
    )
    kept_vols = [r["position_id"] for r in vol_rows]
    portfolio_positions = select(Position.id).where(Position.portfolio_id == portfolio_id)
    await session.execute(
        delete(PositionVolatility).where(
            PositionVolatility.calculation_date == calc_date,
            PositionVolatility.position_id.in_(portfolio_positions),
            PositionVolatility.position_id.not_in(kept_vols),
        )
    )


def _summarise(
    summary: PortfolioRiskSummary,
    book: BookRisk,
    benchmark: dict[str, float] | None,
    betas_written: int,
    vols_written: int,
) -> None:
    fig = book.portfolio
    summary.betas_written = betas_written
    summary.volatility_written = vols_written
    summary.beta_coverage = fig.beta_coverage
    summary.market_beta_weighted = fig.market_beta_weighted
    summary.market_beta_direct = fig.market_beta_direct
    if fig.volatility is not None:
        summary.realized_volatility_21d = _opt(fig.volatility.realized_vol_21d[0])
        summary.expected_volatility_21d = _opt(fig.volatility.har.expected_vol[0])
    summary.hhi = fig.concentration.hhi if fig.concentration else None
    if benchmark and fig.sector_exposure:
        active = active_weights(fig.sector_exposure, benchmark)
        top = max(active.items(), key=lambda kv: kv[1])
        bottom = min(active.items(), key=lambda kv: kv[1])
        summary.largest_overweight = top
        summary.largest_underweight = bottom
