"""Daily simple returns and rolling means on a trading-day calendar.

Arrays are shaped (days, series): one row per trading day of the market index, one
column per symbol. A missing price is NaN; it is never filled here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

TRADING_DAYS_PER_YEAR = 252


def simple_returns(prices: FloatArray) -> FloatArray:
    """r_t = p_t / p_{t-1} - 1 for each column; shape (days - 1, series).

    NaN where either price is missing or not positive: a return across a gap would mix
    several days into one and misalign it against the market's one-day return.
    """
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        prev, cur = p[:-1], p[1:]
        r = cur / prev - 1.0
    bad = ~(np.isfinite(prev) & np.isfinite(cur) & (prev > 0) & (cur > 0))
    r[bad] = np.nan
    return r


def rolling_nanmean(x: FloatArray, window: int, min_count: int) -> FloatArray:
    """Trailing mean over ``window`` rows ignoring NaN, for every row and column at once.

    Row t averages rows t-window+1..t. NaN where fewer than ``min_count`` finite values
    are in the window (including the first window-1 rows). Uses cumulative sums, so the
    cost is O(days x series) whatever the window.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    finite = np.isfinite(a)
    zero = np.zeros((1, a.shape[1]))
    csum = np.concatenate([zero, np.cumsum(np.where(finite, a, 0.0), axis=0)])
    ccnt = np.concatenate([zero, np.cumsum(finite, axis=0, dtype=np.float64)])
    out = np.full(a.shape, np.nan)
    if a.shape[0] < window:
        return out
    sums = csum[window:] - csum[:-window]
    counts = ccnt[window:] - ccnt[:-window]
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sums / counts
    means[counts < min_count] = np.nan
    out[window - 1 :] = means
    return out


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
    r = np.asarray(asset_returns, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    e = np.asarray(exposures, dtype=np.float64)
    if denominator <= 0 or not np.isfinite(denominator):
        raise ValueError(f"denominator must be positive, got {denominator}")
    finite = np.isfinite(r)
    pnl = np.where(finite, r, 0.0) @ e
    out = pnl / denominator
    out[~finite.any(axis=1)] = np.nan
    return out
