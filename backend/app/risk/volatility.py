"""Realized volatility, the HAR-RV forecast, trend and percentile, for many series at once.

Inputs are daily simple returns shaped (days, series) on the trading-day calendar (NaN
for a missing day). Every volatility is annualised with sqrt(252).

Definitions
- Realized vol over w days (w = 21, 63): sample standard deviation (ddof=1) of the
  finite returns among the last w trading days, x sqrt(252). NaN when fewer than 80% of
  the w days have a return.
- HAR-RV (Corsi 2009), in variance units with squared daily returns as the daily
  realized-variance proxy rv_t = r_t^2 (only closes are available):
      RV_d(t) = rv_t,  RV_w(t) = mean rv over t-4..t,  RV_m(t) = mean rv over t-20..t
      target(t) = mean rv over t+1..t+21      (the next 21 trading days)
      target(t) = b0 + b_d RV_d(t) + b_w RV_w(t) + b_m RV_m(t) + e_t
  fitted by least squares on the series' own history, then applied to the components of
  the last day. ``expected_vol_21d`` = sqrt(252 x max(forecast, 0)) (a variance forecast
  below zero is floored at 0); ``model_r_squared`` is the in-sample R^2 of that fit.
  The stored components vol_daily/weekly/monthly are sqrt(252 x RV_d/w/m) of the last day.
- Trend: ratio = realized_vol_21d / realized_vol_63d (short against long window).
  'increasing' when ratio >= 1.10, 'decreasing' when ratio <= 1/1.10, else 'stable'.
  strength = min(1, |ln ratio| / ln 2): 0 for equal vols, 1 once one is double the other.
- Percentile: share of the 21d realized vols of the last 252 trading days (today's
  included) that are <= today's; in (0, 1]. NaN with fewer than 63 such values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.risk.returns import FloatArray, annualise_vol, rolling_nanmean

SHORT_WINDOW = 21
LONG_WINDOW = 63
HAR_WEEK = 5
HAR_MONTH = 21
FORECAST_HORIZON = 21
MIN_HAR_SAMPLES = 63
PERCENTILE_LOOKBACK = 252
MIN_PERCENTILE_HISTORY = 63
TREND_THRESHOLD = 0.10
TREND_FULL_STRENGTH_RATIO = 2.0
COVERAGE = 0.8
"""Share of a window's days that must have a return for the window to count."""

TRENDS = ("increasing", "decreasing", "stable")


def _min_count(window: int) -> int:
    return math.ceil(COVERAGE * window)


def _as_2d(returns: FloatArray) -> FloatArray:
    r = np.asarray(returns, dtype=np.float64)
    return r[:, None] if r.ndim == 1 else r


def rolling_realized_vol(returns: FloatArray, window: int) -> FloatArray:
    """Annualised realized vol of the trailing ``window`` days at every row; (days, series)."""
    r = _as_2d(returns)
    min_count = _min_count(window)
    mean = rolling_nanmean(r, window, min_count)
    mean_sq = rolling_nanmean(r * r, window, min_count)
    count = rolling_nanmean(np.isfinite(r).astype(np.float64), window, 1) * window
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (mean_sq - mean * mean) * count / (count - 1)
    # Cancellation can leave -1e-20 for a flat series.
    return annualise_vol(np.maximum(var, 0.0))


def realized_vol(returns: FloatArray, window: int) -> FloatArray:
    """Annualised realized vol over the last ``window`` days; (series,)."""
    r = _as_2d(returns)
    if r.shape[0] < window:
        return np.full(r.shape[1], np.nan)
    last: FloatArray = rolling_realized_vol(r[-window:], window)[-1]
    return last


@dataclass(frozen=True)
class HarResult:
    vol_daily: FloatArray
    vol_weekly: FloatArray
    vol_monthly: FloatArray
    expected_vol: FloatArray
    r_squared: FloatArray
    coefficients: FloatArray
    """(series, 4): intercept, b_d, b_w, b_m in the series' own variance units."""
    samples: NDArray[np.int64]


def har_components(returns: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """RV_d, RV_w, RV_m (daily variance units) at every row; each (days, series)."""
    rv = _as_2d(returns) ** 2
    return (
        rv,
        rolling_nanmean(rv, HAR_WEEK, _min_count(HAR_WEEK)),
        rolling_nanmean(rv, HAR_MONTH, _min_count(HAR_MONTH)),
    )


def har_target(returns: FloatArray, horizon: int = FORECAST_HORIZON) -> FloatArray:
    """Mean rv over the next ``horizon`` days, aligned to the forecasting day; NaN at the end."""
    rv = _as_2d(returns) ** 2
    trailing = rolling_nanmean(rv, horizon, _min_count(horizon))
    target = np.full(rv.shape, np.nan)
    target[:-horizon] = trailing[horizon:]
    return target


def har_forecast(
    returns: FloatArray,
    *,
    horizon: int = FORECAST_HORIZON,
    min_samples: int = MIN_HAR_SAMPLES,
) -> HarResult:
    """Fit HAR-RV per series (batched normal equations) and forecast the next ``horizon`` days.

    Each series is scaled by its mean rv before solving so the 4x4 systems are well
    conditioned; predictions and R^2 do not depend on that scale.
    """
    r = _as_2d(returns)
    days, series = r.shape
    if days == 0:
        raise ValueError("no returns")
    d, w, m = har_components(r)
    y = har_target(r, horizon)
    ones = np.ones_like(d)
    used = np.isfinite(d) & np.isfinite(w) & np.isfinite(m) & np.isfinite(y)
    samples = used.sum(axis=0)

    finite_d = np.isfinite(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(finite_d, d, 0.0).sum(axis=0) / finite_d.sum(axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)
    z = np.stack([ones, d / scale, w / scale, m / scale])  # (4, days, series)
    z = np.where(used, z, 0.0)
    ys = np.where(used, y / scale, 0.0)
    xtx = np.einsum("itn,jtn->nij", z, z)
    xty = np.einsum("itn,tn->ni", z, ys)

    ok = (samples >= min_samples) & np.isfinite(scale)
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = np.linalg.cond(np.where(ok[:, None, None], xtx, np.eye(4)))
    ok &= np.isfinite(cond) & (cond < 1e12)
    coef = np.linalg.solve(np.where(ok[:, None, None], xtx, np.eye(4)), xty[..., None])[..., 0]

    fitted = np.einsum("itn,ni->tn", z, coef)
    resid = np.where(used, ys - fitted, 0.0)
    y_bar = ys.sum(axis=0) / np.maximum(samples, 1)
    sst = (np.where(used, ys - y_bar, 0.0) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_squared = np.clip(1.0 - (resid**2).sum(axis=0) / sst, 0.0, 1.0)

    last = np.stack([ones[-1], d[-1] / scale, w[-1] / scale, m[-1] / scale])
    forecast = np.einsum("in,ni->n", last, coef) * scale
    expected = annualise_vol(np.maximum(forecast, 0.0))

    ok &= sst > 0
    expected[~ok | ~np.isfinite(forecast)] = np.nan
    r_squared[~ok] = np.nan
    coef = coef * np.stack([scale, np.ones(series), np.ones(series), np.ones(series)]).T
    coef[~ok] = np.nan
    return HarResult(
        vol_daily=annualise_vol(d[-1]),
        vol_weekly=annualise_vol(w[-1]),
        vol_monthly=annualise_vol(m[-1]),
        expected_vol=expected,
        r_squared=r_squared,
        coefficients=coef,
        samples=samples.astype(np.int64),
    )


def vol_trend(short_vol: FloatArray, long_vol: FloatArray) -> tuple[list[str | None], FloatArray]:
    """Trend label and strength per series from the short/long realized-vol ratio.

    See the module docstring for the rule. None/NaN where either vol is missing; two
    zero vols (a flat price) are 'stable' with strength 0.
    """
    s = np.asarray(short_vol, dtype=np.float64)
    lv = np.asarray(long_vol, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ratio = np.log(s / lv)
    both_zero = (s == 0) & (lv == 0)
    log_ratio = np.where(both_zero, 0.0, log_ratio)
    strength = np.clip(np.abs(log_ratio) / math.log(TREND_FULL_STRENGTH_RATIO), 0.0, 1.0)
    up = math.log(1.0 + TREND_THRESHOLD)
    labels: list[str | None] = []
    for value in log_ratio.tolist():
        if not math.isfinite(value):
            labels.append(None)
        elif value >= up - 1e-12:
            labels.append("increasing")
        elif value <= -up + 1e-12:
            labels.append("decreasing")
        else:
            labels.append("stable")
    strength = np.where(np.isfinite(log_ratio), strength, np.nan)
    return labels, strength


def vol_percentile(
    rolling_vol: FloatArray,
    *,
    lookback: int = PERCENTILE_LOOKBACK,
    min_history: int = MIN_PERCENTILE_HISTORY,
) -> FloatArray:
    """Share of the last ``lookback`` rolling vols (today included) at or below today's."""
    v = _as_2d(rolling_vol)[-lookback:]
    current = v[-1]
    valid = np.isfinite(v)
    count = valid.sum(axis=0)
    at_or_below = (valid & (v <= current)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct: FloatArray = at_or_below / count
    pct[(count < min_history) | ~np.isfinite(current)] = np.nan
    return pct


@dataclass(frozen=True)
class VolatilityResult:
    realized_vol_21d: FloatArray
    realized_vol_63d: FloatArray
    har: HarResult
    trend: list[str | None]
    trend_strength: FloatArray
    percentile: FloatArray
    observations: NDArray[np.int64]
    """Finite daily returns in the history the figures were computed from."""


def volatility_metrics(returns: FloatArray) -> VolatilityResult:
    """Every volatility figure the tables store, for each column of ``returns``."""
    r = _as_2d(returns)
    if r.shape[0] == 0:
        raise ValueError("no returns")
    rolling_21 = rolling_realized_vol(r, SHORT_WINDOW)
    vol_21 = rolling_21[-1]
    vol_63 = realized_vol(r, LONG_WINDOW)
    trend, strength = vol_trend(vol_21, vol_63)
    return VolatilityResult(
        realized_vol_21d=vol_21,
        realized_vol_63d=vol_63,
        har=har_forecast(r),
        trend=trend,
        trend_strength=strength,
        percentile=vol_percentile(rolling_21),
        observations=np.isfinite(r).sum(axis=0).astype(np.int64),
    )
