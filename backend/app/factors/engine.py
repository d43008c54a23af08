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

import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from numpy.typing import NDArray

from app.factors.definitions import Factor, FactorSet, default_factors
from app.formulas.book import _book
from app.formulas.exposure import exposure_factor
from app.formulas.factors import (
    FactorFit,
    WindowFactors,
    fit_factors,
    portfolio_loadings,
    spread_returns,
    usable_factors,
)
from app.formulas.returns import FloatArray, holdings_returns, simple_returns
from app.portfolios.repository import HeldPosition
from app.prices.repository import MARKET_INDEX, PriceHistory

PERFECT_FIT_REASON = "perfect fit (no residual): no t-statistic"


@dataclass
class FactorRows:
    """Rows of the two factor tables, as tuples in :data:`POSITION_RECORD` and
    :data:`PORTFOLIO_RECORD` order (floats NaN where NULL, fitted to the columns by the
    store)."""

    positions: list[tuple[object, ...]] = field(default_factory=list)
    portfolios: list[tuple[object, ...]] = field(default_factory=list)

    def extend(self, other: FactorRows) -> None:
        self.positions.extend(other.positions)
        self.portfolios.extend(other.portfolios)


POSITION_RECORD = (
    "portfolio_id",
    "position_id",
    "calculation_date",
    "factor",
    "window_days",
    "exposure",
    "std_error",
    "t_stat",
    "r_squared",
    "specific_volatility",
    "condition_number",
    "observations",
    "estimator",
    "null_reason",
)
PORTFOLIO_RECORD = (
    "portfolio_id",
    "calculation_date",
    "factor",
    "window_days",
    "exposure",
    "coverage",
    "r_squared",
    "specific_volatility",
    "observations",
    "estimator",
    "ridge_positions",
    "null_reason",
)


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
) -> tuple[FloatArray, list[str]]:
    legs = sorted({s for f in factors for s in f.symbols})
    index = {s: j for j, s in enumerate(legs)}
    long = np.array([index[f.long] for f in factors], dtype=np.intp)
    short = np.array([index[f.short] if f.short else -1 for f in factors], dtype=np.intp)
    leg_returns = simple_returns(leg_closes(history, legs))
    return spread_returns(leg_returns, long, short), legs


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
    portfolio_id: uuid.UUID,
    equity: float | None,
    dates: Sequence[date],
    positions: Sequence[Sequence[HeldPosition]],
    history: PriceHistory,
    beta_window: int,
    *,
    history_days: int,
    factor_set: FactorSet | None = None,
) -> FactorRows:
    """The factor rows of one portfolio on each of ``dates`` (``positions[k]``: date k's
    book), from the last ``history_days`` + 1 prices on or before each date."""
    factors = list((factor_set or default_factors()).factors)
    rows = FactorRows()
    if not dates:
        return rows
    factor_returns, legs = _factor_returns(history, factors)
    leg_returns_finite = np.isfinite(simple_returns(leg_closes(history, legs)))
    series = sorted({p.series_symbol for held in positions for p in held})
    series_closes = leg_closes(history, series)
    series_returns = simple_returns(series_closes)
    column_of = {s: j for j, s in enumerate(series)}
    seen = np.where(np.isfinite(series_closes), np.arange(len(history.dates))[:, None], -1)
    last_priced = np.maximum.accumulate(seen, axis=0) if seen.size else seen
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
        fits: dict[str, FactorFit | str] = {}
        for symbol in {p.series_symbol for p in held}:
            fits[symbol] = (
                fit_factors(series_returns[lo : t + 1, column_of[symbol]], x)
                if usable.any()
                else "no factor has prices for the window"
            )
        loadings = np.full((len(held), len(factors)), np.nan)
        exposures = np.full(len(held), np.nan)
        for i, p in enumerate(held):
            col = column_of[p.series_symbol]
            priced = int(last_priced[end, col])
            if priced >= 0 and priced >= end - history_days:
                size = exposure_factor(p.position_type) * p.quantity
                exposures[i] = size * float(series_closes[priced, col])
            fit = fits[p.series_symbol]
            if isinstance(fit, FactorFit):
                loadings[i, usable] = fit.loadings
            rows.positions.extend(
                _position_rows(portfolio_id, p, day, beta_window, factors, usable, reasons, fit)
            )
        rows.portfolios.extend(
            _portfolio_rows(
                portfolio_id,
                day,
                beta_window,
                factors,
                reasons,
                usable,
                loadings,
                exposures,
                equity,
                series_returns[lo : t + 1],
                [column_of[p.series_symbol] for p in held],
                x,
                ridge_positions=sum(_ridge(fits[p.series_symbol]) for p in held),
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


def _position_rows(
    portfolio_id: uuid.UUID,
    p: HeldPosition,
    day: date,
    window_days: int,
    factors: Sequence[Factor],
    usable: NDArray[np.bool_],
    reasons: Sequence[str | None],
    fit: FactorFit | str,
) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    nan = float("nan")
    j = 0  # the factor's index among the fit's regressors
    for f, factor in enumerate(factors):
        if not usable[f]:
            out.append(
                (portfolio_id, p.id, day, factor.code, window_days, nan, nan, nan, nan, nan, nan,
                 None, None, reasons[f])
            )  # fmt: skip
            continue
        if isinstance(fit, str):
            out.append(
                (portfolio_id, p.id, day, factor.code, window_days, nan, nan, nan, nan, nan, nan,
                 None, None, f"{p.series_symbol}: {fit}")
            )  # fmt: skip
        else:
            t_stat = float(fit.t_stats[j])
            out.append(
                (
                    portfolio_id,
                    p.id,
                    day,
                    factor.code,
                    window_days,
                    float(fit.loadings[j]),
                    float(fit.std_errors[j]),
                    t_stat,
                    fit.r_squared,
                    fit.residual_vol,
                    max(fit.condition_number, 1.0),
                    fit.observations,
                    fit.estimator,
                    PERFECT_FIT_REASON if np.isnan(t_stat) else None,
                )
            )
        j += 1
    return out


def _portfolio_rows(
    portfolio_id: uuid.UUID,
    day: date,
    window_days: int,
    factors: Sequence[Factor],
    reasons: Sequence[str | None],
    usable: NDArray[np.bool_],
    loadings: FloatArray,
    exposures: FloatArray,
    equity: float | None,
    window_returns: FloatArray,
    cols: list[int],
    x: FloatArray,
    *,
    ridge_positions: int,
) -> list[tuple[object, ...]]:
    book = _book(exposures, np.asarray(cols, dtype=np.intp), equity)
    weighted = portfolio_loadings(loadings, exposures, book.denominator)
    fit: FactorFit | str = "no priced position"
    if book.gross > 0 and book.denominator > 0 and usable.any():
        returns = holdings_returns(
            window_returns, [book.cols], [book.e_priced], [book.denominator]
        )[:, 0]
        fit = fit_factors(returns, x)
    r2, vol, obs, estimator = (
        (fit.r_squared, fit.residual_vol, fit.observations, fit.estimator)
        if isinstance(fit, FactorFit)
        else (float("nan"), float("nan"), None, None)
    )
    out: list[tuple[object, ...]] = []
    for f, factor in enumerate(factors):
        exposure = float(weighted.exposure[f])
        reason = reasons[f]
        if reason is None and np.isnan(exposure):
            reason = (
                "no held position has a loading on it" if book.gross > 0 else "no priced position"
            )
        elif reason is None and isinstance(fit, str):
            reason = f"portfolio returns: {fit}"
        out.append(
            (
                portfolio_id,
                day,
                factor.code,
                window_days,
                exposure if usable[f] else float("nan"),
                float(weighted.coverage[f]) if usable[f] else float("nan"),
                r2,
                vol,
                obs,
                estimator,
                ridge_positions,
                reason,
            )
        )
    return out
