"""Daily simple returns on a trading-day calendar, and the return series of a book.

Arrays are shaped (days, series): one row per trading day of the market index, one
column per symbol. A missing price is NaN; it is never filled here.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def holdings_returns(
    returns: FloatArray,
    position_series: Sequence[NDArray[np.intp]],
    exposures: Sequence[FloatArray],
    denominators: Sequence[float],
) -> FloatArray:
    """Daily return of each date's holdings over the whole history: (days, dates).

    Column k is sum_i E_i r_{s_i,t} / D over date k's positions i, with s_i the position's
    column in ``returns`` (one series held twice counts twice), E_i its signed exposure
    and D = ``denominators[k]``. Exposures are signed (shorts negative), so offsetting
    positions cancel day by day and the series' volatility reflects correlations (never a
    weighted sum of position volatilities). A position without a price (exposure NaN)
    moves nothing. A missing return counts as no move that day (the price carried
    forward); a day on which none of the held series has a return is NaN, and so is every
    day of a date without exposure or without a positive denominator.
    """
    r = as_columns(returns)
    dates = len(position_series)
    weights = np.zeros((r.shape[1], dates))
    held = np.zeros((r.shape[1], dates))
    for k, (cols, e, denominator) in enumerate(
        zip(position_series, exposures, denominators, strict=True)
    ):
        priced = np.asarray(e, dtype=np.float64)
        priced = np.where(np.isfinite(priced), priced, 0.0)
        if denominator > 0 and (priced != 0).any():
            columns = np.asarray(cols, dtype=np.intp)
            np.add.at(weights[:, k], columns, priced / denominator)
            held[columns, k] = 1.0
    finite = np.isfinite(r)
    out: FloatArray = np.where(finite, r, 0.0) @ weights
    out[(finite.astype(np.float64) @ held) == 0] = np.nan
    return out
