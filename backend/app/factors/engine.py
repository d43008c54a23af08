"""Factor exposures of one portfolio on many dates, from loaded prices (no database).

For each date: the factors' daily returns over the beta window (app.formulas.factors
spreads of the ETFs of app/factors/factors.toml); a factor whose ETFs have returns on
fewer than COVERAGE of the window's days is left out of every regression of that date
and its exposures are NULL with the reason. Each held series (a stock's own, an option's
underlying) is regressed on the factors that remain (positions share their series' fit);
the portfolio's exposure is its positions' loadings weighted by signed exposure over the
equity, and its R-squared and specific volatility come from regressing its own return
series (app.formulas.returns.holdings_returns) on the same factors.

The single-date run and the range run both call :func:`compute_factor_dates` with the
dates they store, so a date's rows are the same whichever run wrote them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import date

import numpy as np
from numpy.typing import NDArray

from app.config import get_settings
from app.factors.definitions import Factor, FactorSet, default_factors
from app.factors.rows import FactorRows, portfolio_block, position_block
from app.formulas.book import _book
from app.formulas.factors import (
    FactorFit,
    WindowFactors,
    fit_factors_many,
    portfolio_loadings,
    spread_returns,
    usable_factors,
)
from app.formulas.returns import FloatArray, holdings_returns, simple_returns
from app.portfolios.repository import HeldPosition
from app.prices.repository import MARKET_INDEX, PriceHistory
from app.risk_metrics.pricing import Panel


def leg_closes(history: PriceHistory, symbols: Sequence[str]) -> FloatArray:
    """Closes of the factors' ETFs on the history's calendar: (days, symbols), NaN where
    an ETF has no price (a symbol not loaded at all: every day)."""
    out = np.full((len(history.dates), len(symbols)), np.nan)
    column = {s: j for j, s in enumerate(history.symbols)}
    for j, symbol in enumerate(symbols):
        if symbol in column:
            out[:, j] = history.closes[:, column[symbol]]
        elif symbol == MARKET_INDEX:
            out[:, j] = history.market
    return out


def _factor_returns(
    history: PriceHistory, factors: Sequence[Factor]
) -> tuple[FloatArray, FloatArray, list[str]]:
    """(the factors' returns, their ETFs' own returns, those ETFs) on the history's days."""
    legs = sorted({s for f in factors for s in f.symbols})
    index = {s: j for j, s in enumerate(legs)}
    long = np.array([index[f.long] for f in factors], dtype=np.intp)
    short = np.array([index[f.short] if f.short else -1 for f in factors], dtype=np.intp)
    leg_returns = simple_returns(leg_closes(history, legs))
    return spread_returns(leg_returns, long, short), leg_returns, legs


def unusable_reason(
    factor: Factor, window: WindowFactors, f: int, window_days: int, leg_counts: dict[str, int]
) -> str:
    """Why factor ``f`` is left out of a window: its ETFs' missing returns."""
    short_of = [s for s in factor.symbols if leg_counts[s] < window.minimum]
    if not short_of:
        return f"{factor.definition}: did not move in the {window_days}-day window"
    named = ", ".join(f"{s} {leg_counts[s]}" for s in short_of)
    return (
        f"{factor.definition}: daily returns in the {window_days}-day window ({named}),"
        f" fewer than {window.minimum}"
    )


def compute_factor_dates(
    equity: float | None,
    dates: Sequence[date],
    positions: Sequence[Sequence[HeldPosition]],
    history: PriceHistory,
    beta_window: int,
    *,
    history_days: int,
    factor_set: FactorSet | None = None,
    stale_after: int | None = None,
    keep_fits: bool = False,
) -> FactorRows:
    """The factor rows of one portfolio (of ``equity``) on each of ``dates``
    (``positions[k]``: date k's book), from the last ``history_days`` + 1 prices on or
    before each date. Positions are valued, and left out for want of a fresh price, as
    the engine's other figures are (app.risk_metrics.pricing.Panel.book). With
    ``keep_fits`` the rows also keep each date's position fits (their loadings'
    covariance is not stored), for readers that judge the estimates jointly."""
    factors = list((factor_set or default_factors()).factors)
    rows = FactorRows(tuple(f.code for f in factors))
    if not dates:
        return rows
    factor_returns, leg_returns, legs = _factor_returns(history, factors)
    leg_returns_finite = np.isfinite(leg_returns)
    series = sorted({p.series_symbol for held in positions for p in held})
    series_closes = leg_closes(history, series)
    series_returns = simple_returns(series_closes)
    column_of = {s: j for j, s in enumerate(series)}
    max_age = get_settings().stale_price_trading_days if stale_after is None else stale_after
    history_column = {s: j for j, s in enumerate(history.symbols)}
    panel = Panel(
        history, 0, len(history.dates), [history_column[s] for s in series], column_of, max_age
    )
    for day, held in zip(dates, positions, strict=True):
        end = bisect_right(history.dates, day) - 1  # the last price row on or before day
        if end < 1:
            continue
        t = end - 1  # the last return row
        lo = max(0, t + 1 - beta_window, t + 1 - history_days)
        window = usable_factors(factor_returns, lo, t + 1, beta_window)
        usable = window.usable & _moved(factor_returns[lo : t + 1])
        leg_counts = {s: int(leg_returns_finite[lo : t + 1, j].sum()) for j, s in enumerate(legs)}
        reasons = [
            None if usable[f] else unusable_reason(factor, window, f, beta_window, leg_counts)
            for f, factor in enumerate(factors)
        ]
        x = factor_returns[lo : t + 1][:, usable]
        exposures = panel.book(held, end, day).exposures
        # The held series and the portfolio's own return series, regressed together.
        book = _book(exposures, np.array([column_of[p.series_symbol] for p in held]), equity)
        symbols = sorted({p.series_symbol for p in held})
        window_returns = series_returns[lo : t + 1]
        y = window_returns[:, [column_of[s] for s in symbols]]
        priced_book = book.gross > 0 and book.denominator > 0
        if priced_book:
            own = holdings_returns(window_returns, [book.cols], [book.e_priced], [book.denominator])
            y = np.column_stack([y, own])
        found: list[FactorFit | str] = (
            fit_factors_many(y, x)
            if usable.any() and y.shape[1]
            else ["no factor has prices for the window"] * y.shape[1]
        )
        fits = dict(zip(symbols, found, strict=False))
        portfolio_fit = found[-1] if priced_book else "no priced position"
        loadings = np.full((len(held), len(factors)), np.nan)
        position_fits: list[FactorFit | str] = []
        for i, p in enumerate(held):
            fit = fits[p.series_symbol]
            if isinstance(fit, FactorFit):
                loadings[i, usable] = fit.loadings
            position_fits.append(fit if isinstance(fit, FactorFit) else f"{p.series_symbol}: {fit}")
        if keep_fits:
            rows.position_fits.append(position_fits)
        rows.position_blocks.append(
            position_block(rows, day, [p.id for p in held], position_fits, usable, reasons)
        )
        rows.portfolio_blocks.append(
            portfolio_block(
                rows,
                day,
                portfolio_loadings(loadings, exposures, book.denominator),
                usable,
                reasons,
                book.gross,
                portfolio_fit,
                sum(_ridge(fits[p.series_symbol]) for p in held),
            )
        )
    return rows


def _ridge(fit: FactorFit | str) -> int:
    return int(isinstance(fit, FactorFit) and fit.ridge_penalty > 0)


def _moved(x: FloatArray) -> NDArray[np.bool_]:
    """Factors whose returns vary in the window (a flat factor cannot be regressed on)."""
    finite = np.isfinite(x)
    if not x.size:
        return np.zeros(x.shape[1], dtype=bool)
    high = np.where(finite, x, -np.inf).max(axis=0)
    low = np.where(finite, x, np.inf).min(axis=0)
    return np.asarray(finite.any(axis=0) & (high > low))
