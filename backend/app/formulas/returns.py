"""Daily simple returns on a trading-day calendar, and a portfolio's return series.

Arrays are shaped (days, series): one row per trading day of the market index, one
column per symbol. A missing price is NaN; it is never filled here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

TRADING_DAYS_PER_YEAR = 252


def as_columns(values: FloatArray) -> FloatArray:
    """``values`` as float64 (days, series); a 1-D array is one series."""
    a = np.asarray(values, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def simple_returns(prices: FloatArray) -> FloatArray:
    """r_t = p_t / p_{t-1} - 1 for each column; shape (days - 1, series).

    NaN where either price is missing or not positive: a return across a gap would mix
    several days into one and misalign it against the market's one-day return.
    """
    p = as_columns(prices)
    with np.errstate(divide="ignore", invalid="ignore"):
        prev, cur = p[:-1], p[1:]
        r = cur / prev - 1.0
    bad = ~(np.isfinite(prev) & np.isfinite(cur) & (prev > 0) & (cur > 0))
    r[bad] = np.nan
    return r


def annualise_vol(daily_variance: FloatArray) -> FloatArray:
    """sqrt(252 x daily variance): daily variance -> annualised volatility."""
    return np.sqrt(np.asarray(daily_variance, dtype=np.float64) * TRADING_DAYS_PER_YEAR)


def portfolio_returns(
    asset_returns: FloatArray, exposures: FloatArray, denominator: float
) -> FloatArray:
    """Daily return of today's holdings over the history: sum_i E_i r_i,t / denominator.

    ``exposures`` are signed (shorts negative), so offsetting positions cancel day by day
    and the resulting volatility reflects correlations (never a weighted sum of position
    volatilities). A missing return counts as no move that day (the price carried
    forward); a day on which no held series has a return is NaN.
    """
    r = as_columns(asset_returns)
    e = np.asarray(exposures, dtype=np.float64)
    if denominator <= 0 or not np.isfinite(denominator):
        raise ValueError(f"denominator must be positive, got {denominator}")
    finite = np.isfinite(r)
    pnl = np.where(finite, r, 0.0) @ e
    out = pnl / denominator
    out[~finite.any(axis=1)] = np.nan
    return out
