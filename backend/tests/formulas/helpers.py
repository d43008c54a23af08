"""What the formula tests share: synthetic returns, and the engine's entry points asked
for one date, the last row of the history, which most tests compare against a reference
(the engine runs the same functions with one date, the single-date run, or many)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.formulas.beta import BetaResult, ols_beta_at
from app.formulas.book import PortfolioFigures, analyse_book_dates
from app.formulas.volatility import VolatilityResult, volatility_at


def wandering_vol_returns(seed: int, days: int = 300, series: int = 4) -> np.ndarray:
    """Returns whose volatility wanders, so the HAR fit has something to fit."""
    rng = np.random.default_rng(seed)
    sigma = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.05, (days, series)), axis=0))
    return rng.normal(0, 1, (days, series)) * sigma


def last_row(values: np.ndarray) -> np.ndarray:
    return np.array([np.asarray(values).shape[0] - 1], dtype=np.intp)


def beta_on_last_day(asset_returns: np.ndarray, market_returns: np.ndarray) -> BetaResult:
    """``ols_beta_at`` over every row given, at the last: (series,)."""
    y = np.asarray(asset_returns, dtype=np.float64)
    return ols_beta_at(y, market_returns, last_row(y), window=max(y.shape[0], 1)).at(0)


def volatility_on_last_day(returns: np.ndarray) -> VolatilityResult:
    """``volatility_at`` over every row given, at the last: (series,)."""
    return volatility_at(returns, last_row(returns)).at(0)


@dataclass(frozen=True)
class LastDay:
    series_betas: BetaResult
    series_volatility: VolatilityResult
    portfolio: PortfolioFigures


def book_on_last_day(
    prices: np.ndarray,
    market_prices: np.ndarray,
    series_symbols: Sequence[str],
    position_series: np.ndarray,
    exposures: np.ndarray,
    equity: float | None,
    sectors: Mapping[str, str | None],
) -> LastDay:
    """``analyse_book_dates`` for one book on the last price row."""
    dated = analyse_book_dates(
        prices,
        market_prices,
        series_symbols,
        last_row(prices),
        [np.asarray(position_series, dtype=np.intp)],
        [np.asarray(exposures, dtype=np.float64)],
        equity,
        sectors,
    )
    return LastDay(dated.series_betas.at(0), dated.series_volatility.at(0), dated.portfolio[0])
