"""Realized volatility, trend and percentile, with the HAR-RV forecast, for many series at once.

Inputs are daily simple returns shaped (days, series) on the trading-day calendar (NaN
for a missing day). Every volatility is annualised with sqrt(252).

Definitions
- Realized vol over w days (w = 21, 63): sample standard deviation (ddof=1) of the
  finite returns among the last w trading days, x sqrt(252). NaN when fewer than 80% of
  the w days have a return (app.formulas.windows.COVERAGE).
- The HAR-RV components and forecast of the next 21 days' vol: app.formulas.har.
- Trend: ratio = realized_vol_21d / realized_vol_63d (short against long window).
  'increasing' when ratio >= 1.10, 'decreasing' when ratio <= 1/1.10, else 'stable'.
  strength = min(1, |ln ratio| / ln 2): 0 for equal vols, 1 once one is double the other.
- Percentile: share of the 21d realized vols of the last 252 trading days (today's
  included) that are <= today's; in (0, 1]. NaN with fewer than 63 such values.

``volatility_at`` computes every figure at many dates in one pass, in series blocks
(app.formulas.blocks); each rolling figure is a difference of two prefix sums
(app.formulas.windows.Moments).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from app.formulas.blocks import map_blocks, resolve_threads, series_blocks, split_columns
from app.formulas.har import (
    FORECAST_HORIZON,
    HarResult,
    HarSolution,
    HarSums,
    har_panel,
    har_result,
    har_sums_at,
    solve_har,
)
from app.formulas.labels import TRENDS
from app.formulas.returns import FloatArray, annualise_vol, as_columns
from app.formulas.windows import (
    IntArray,
    Moments,
    min_count,
    prefix_differences,
    trailing_sums,
    window_starts,
)

SHORT_WINDOW = 21
LONG_WINDOW = 63
PERCENTILE_LOOKBACK = 252
MIN_PERCENTILE_HISTORY = 63
TREND_THRESHOLD = 0.10
TREND_FULL_STRENGTH_RATIO = 2.0


def _realized_vol_at(moments: Moments, rows: IntArray, window: int) -> FloatArray:
    """Annualised realized vol of the ``window`` days up to each of ``rows``, from the
    returns' prefix sums ``moments``."""
    total, count, mean = trailing_sums(moments.r, moments.n, rows, window, min_count(window))
    squares = prefix_differences(moments.rv, rows, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (squares - total * mean) / (count - 1)
    var[~np.isfinite(mean)] = np.nan
    # Cancellation can leave -1e-20 for a flat series.
    return annualise_vol(np.maximum(var, 0.0))


def trend_codes(short_vol: FloatArray, long_vol: FloatArray) -> tuple[NDArray[np.int8], FloatArray]:
    """Trend and strength from the short/long realized-vol ratio (the rule: the module
    docstring), for arrays of any shape: the trend as its index into TRENDS, -1 where
    either vol is missing (strength NaN); two zero vols (a flat price) are 'stable' with
    strength 0."""
    s = np.asarray(short_vol, dtype=np.float64)
    lv = np.asarray(long_vol, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ratio = np.log(s / lv)
    both_zero = (s == 0) & (lv == 0)
    log_ratio = np.where(both_zero, 0.0, log_ratio)
    strength = np.clip(np.abs(log_ratio) / math.log(TREND_FULL_STRENGTH_RATIO), 0.0, 1.0)
    up = math.log(1.0 + TREND_THRESHOLD)
    codes = np.full(log_ratio.shape, TRENDS.index("stable"), dtype=np.int8)
    codes[log_ratio >= up - 1e-12] = TRENDS.index("increasing")
    codes[log_ratio <= -up + 1e-12] = TRENDS.index("decreasing")
    known = np.isfinite(log_ratio)
    codes[~known] = -1
    return codes, np.where(known, strength, np.nan)


def trend_label(code: int) -> str | None:
    """The label of a ``trend_codes`` code (None for -1)."""
    return None if code < 0 else TRENDS[code]


def percentiles_at(
    rolling_vol: FloatArray,
    ends: IntArray,
    first_valid: IntArray,
    *,
    lookback: int = PERCENTILE_LOOKBACK,
    min_history: int = MIN_PERCENTILE_HISTORY,
) -> FloatArray:
    """At each row T of ``ends``: the share of the rolling vols of rows
    max(first_valid, T - lookback + 1)..T that are at or below row T's, (dates, series);
    NaN with fewer than ``min_history`` of them or without a vol at T."""
    out = np.full((ends.size, rolling_vol.shape[1]), np.nan)
    for k, (t, a) in enumerate(zip(ends.tolist(), first_valid.tolist(), strict=True)):
        window = rolling_vol[max(a, t - lookback + 1) : t + 1]
        if window.shape[0] == 0:
            continue
        current = window[-1]
        valid = np.isfinite(window)
        count = valid.sum(axis=0)
        at_or_below = (window <= current).sum(axis=0)  # NaN compares False
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = at_or_below / count
        pct[(count < min_history) | ~np.isfinite(current)] = np.nan
        out[k] = pct
    return out


@dataclass(frozen=True)
class VolatilityResult:
    """Every volatility figure per series, shape (series,) or (dates, series)."""

    realized_vol_21d: FloatArray
    realized_vol_63d: FloatArray
    har: HarResult
    trend_code: NDArray[np.int8]
    """Index into TRENDS; -1 where there is no trend (a vol is missing)."""
    trend_strength: FloatArray
    percentile: FloatArray
    observations: NDArray[np.int64]
    """Finite daily returns in the history the figures were computed from."""

    def at(self, k: int) -> VolatilityResult:
        """Date ``k`` of a (dates, series) result, as a (series,) one."""
        return VolatilityResult(
            realized_vol_21d=self.realized_vol_21d[k],
            realized_vol_63d=self.realized_vol_63d[k],
            har=HarResult(*(getattr(self.har, f.name)[k] for f in fields(HarResult))),
            trend_code=self.trend_code[k],
            trend_strength=self.trend_strength[k],
            percentile=self.percentile[k],
            observations=self.observations[k],
        )


def volatility_at(
    returns: FloatArray,
    ends: IntArray,
    *,
    history: int | None = None,
    horizon: int = FORECAST_HORIZON,
    threads: int | None = None,
) -> VolatilityResult:
    """Every volatility figure the tables store, for each row T of ``ends`` (ascending) on
    the returns s..T alone, s = max(0, T + 1 - history) (s = 0 without a ``history``
    cap): every series at every date in one pass, (dates, series); ``.at(k)`` gives date
    k's. ``threads``: see :data:`app.formulas.blocks.SERIES_THREADS`.

    A date's figures use its window's rows only: a rolling figure whose days start before
    s is missing, as it would be on the window alone."""
    r = as_columns(returns)
    t = np.asarray(ends, dtype=np.intp)
    if r.shape[0] == 0 or t.size == 0 or t.min() < 0 or t.max() >= r.shape[0]:
        raise ValueError("no returns at the dates asked")
    parts = series_blocks(r.shape[1], r.shape[0], threads)
    if resolve_threads(threads, len(parts)) == 1:
        # One thread: each block finished while its arrays are still in cache.
        done = [_finish(_volatility_block(r[:, j], t, history, horizon), 1) for j in parts]
        return done[0] if len(done) == 1 else _joined_results(done)
    blocks = map_blocks(lambda j: _volatility_block(r[:, j], t, history, horizon), parts, threads)
    # On threads the rest, per series on (dates, series) arrays, is done once for the
    # book: per block its operations are too short to release the GIL for long.

    def joined(of: list[Any], name: str) -> Any:
        return np.concatenate([getattr(x, name) for x in of], axis=1)

    sums = [x.har_sums for x in blocks]
    return _finish(
        _BlockFigures(
            **{f: joined(blocks, f) for f in _BlockFigures._fields if f != "har_sums"},
            har_sums=HarSums(**{f.name: joined(sums, f.name) for f in fields(HarSums)}),
        ),
        threads,
    )


def _joined_results(blocks: list[VolatilityResult]) -> VolatilityResult:
    def joined(name: str, of: list[Any]) -> Any:
        return np.concatenate([getattr(b, name) for b in of], axis=1)

    hars = [b.har for b in blocks]
    return VolatilityResult(
        **{f.name: joined(f.name, blocks) for f in fields(VolatilityResult) if f.name != "har"},
        har=HarResult(**{f.name: joined(f.name, hars) for f in fields(HarResult)}),
    )


def _finish(b: _BlockFigures, threads: int | None) -> VolatilityResult:
    """The figures of a block's (or the joined blocks') sums."""
    codes, strength = trend_codes(b.vol_21, b.vol_63)
    return VolatilityResult(
        realized_vol_21d=b.vol_21,
        realized_vol_63d=b.vol_63,
        har=har_result(_solve_split(b.har_sums, b.x_last, threads), b.x_last),
        trend_code=codes,
        trend_strength=strength,
        percentile=b.percentile,
        observations=b.observations,
    )


def _solve_split(sums: HarSums, x_last: FloatArray, threads: int | None) -> HarSolution:
    """``solve_har`` with the series split over the threads: the 3x3 eigenvalue checks,
    one LAPACK call per series, are most of its time and release the GIL."""
    parts = split_columns(x_last.shape[1], threads)
    if len(parts) == 1:
        return solve_har(sums, x_last)

    def solve(j: slice) -> HarSolution:
        return solve_har(
            HarSums(**{f.name: getattr(sums, f.name)[:, j] for f in fields(HarSums)}),
            x_last[:, j],
        )

    solved = map_blocks(solve, parts, threads)
    return HarSolution(
        **{
            f.name: np.concatenate([getattr(x, f.name) for x in solved], axis=1)
            for f in fields(HarSolution)
        }
    )


class _BlockFigures(NamedTuple):
    """What a series block computes from its history: (dates, series[, ...]) arrays."""

    vol_21: FloatArray
    vol_63: FloatArray
    percentile: FloatArray
    har_sums: HarSums
    x_last: FloatArray
    observations: NDArray[np.int64]


def _volatility_block(
    r: FloatArray, t: IntArray, history: int | None, horizon: int
) -> _BlockFigures:
    starts = window_starts(t, history)
    # Only the rows a window reaches (the earliest start on) take part.
    base = int(starts.min())
    r = r[base:]
    t, starts = t - base, starts - base
    moments = Moments.of(r)

    def inside(window: int) -> NDArray[np.bool_]:
        return np.asarray(t - starts >= window - 1)[:, None]

    first = int(max(starts.min(), t.min() - PERCENTILE_LOOKBACK + 1))
    span = np.arange(first, int(t.max()) + 1, dtype=np.intp)
    rolling = _realized_vol_at(moments, span, SHORT_WINDOW)  # row i: span[i]
    percentile = percentiles_at(
        rolling,
        t - first,
        starts + SHORT_WINDOW - 1 - first,  # earlier rolling vols reach before the window
    )
    sums, x_last = har_sums_at(har_panel(r, moments, horizon), t, starts, horizon)
    observations = np.broadcast_to(moments.n[t + 1] - moments.n[starts], (t.size, r.shape[1]))
    return _BlockFigures(
        vol_21=np.where(inside(SHORT_WINDOW), rolling[t - first], np.nan),
        vol_63=np.where(inside(LONG_WINDOW), _realized_vol_at(moments, t, LONG_WINDOW), np.nan),
        percentile=percentile,
        har_sums=sums,
        x_last=x_last,
        observations=np.rint(observations).astype(np.int64),
    )
