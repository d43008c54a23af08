"""Sums over many row windows of a (days, series) array at once.

Every windowed figure of the engine (betas, realized vols, the HAR fit) is a sum over a
window of rows ending at a calculation date. ``window_sums`` gives them for any number of
windows: one window is summed directly; several come from one prefix sum (cumulative sum
over the rows), so a year of dates costs one pass over the history instead of one per date.
Trailing windows of returns (realized vols, the HAR components) come from the prefix sums
of ``Moments``; a window counts only when ``COVERAGE`` of its days have a return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.formulas.returns import FloatArray

IntArray = NDArray[np.intp]

COVERAGE = 0.8
"""Share of a window's days that must have a return for the window to count."""


def min_count(window: int) -> int:
    """Returns a ``window``-day window needs to count: COVERAGE of its days, rounded up."""
    return math.ceil(COVERAGE * window)


def prefix_sums(a: FloatArray) -> FloatArray:
    """P[k] = sum of rows < k along axis 0; P has one more row than ``a``."""
    out = np.empty((a.shape[0] + 1, *a.shape[1:]))
    out[0] = 0.0
    np.cumsum(a, axis=0, out=out[1:])
    return out


def window_sums(a: FloatArray, lo: IntArray, end: IntArray) -> FloatArray:
    """Sum of rows lo[k]..end[k]-1 of ``a`` for every window k: shape (windows, *a.shape[1:]).

    An empty window (end <= lo) sums to zero."""
    lo = np.asarray(lo, dtype=np.intp)
    end = np.maximum(np.asarray(end, dtype=np.intp), lo)
    if lo.size == 1:
        one: FloatArray = a[lo[0] : end[0]].sum(axis=0)[None]
        return one
    prefix = prefix_sums(a)
    out: FloatArray = prefix[end] - prefix[lo]
    return out


def range_extreme(values: FloatArray, lo: IntArray, hi: IntArray, *, largest: bool) -> FloatArray:
    """min (or max) of values[lo[k]..hi[k]] (inclusive) along axis 0 for every k.

    One range is reduced directly; ranges that share their first row from a running
    extreme; others from a sparse table of power-of-two blocks (O(days log days)). Empty
    ranges (hi < lo) give +inf for a min, -inf for a max."""
    reduce = np.maximum if largest else np.minimum
    empty = -np.inf if largest else np.inf
    lo = np.asarray(lo, dtype=np.intp)
    hi = np.asarray(hi, dtype=np.intp)
    out = np.full((lo.size, *values.shape[1:]), empty)
    nonempty = hi >= lo
    if not nonempty.any():
        return out
    if lo.size == 1:
        out[0] = reduce.reduce(values[lo[0] : hi[0] + 1], axis=0)
        return out
    pick = np.flatnonzero(nonempty)
    if (lo[pick] == lo[pick[0]]).all():
        start = int(lo[pick[0]])
        running = reduce.accumulate(values[start : int(hi[pick].max()) + 1], axis=0)
        out[pick] = running[hi[pick] - start]
        return out
    length = np.where(nonempty, hi - lo + 1, 1)
    level = np.floor(np.log2(length)).astype(np.intp)
    table = values
    for k in range(int(level.max(initial=0)) + 1):
        if k:
            half = 1 << (k - 1)
            table = reduce(table[:-half], table[half:])  # row i: rows i..i+2^k-1
        chosen = np.flatnonzero(nonempty & (level == k))
        if chosen.size:
            width = 1 << k
            out[chosen] = reduce(table[lo[chosen]], table[hi[chosen] - width + 1])
    return out


def window_starts(ends: IntArray, history: int | None) -> IntArray:
    """First row of each date's window of ``history`` rows ending at ``ends`` (row 0
    without a cap)."""
    if history is None:
        return np.zeros_like(ends)
    if history < 1:
        raise ValueError(f"history must be positive, got {history}")
    return np.maximum(0, ends + 1 - history)


def prefix_differences(prefix: FloatArray, rows: IntArray, window: int) -> FloatArray:
    """prefix[t + 1] - prefix[t + 1 - window] for each t in ``rows`` (garbage where
    t + 1 < window: the caller masks those); slices when ``rows`` is a run of rows."""
    first, last = int(rows[0]), int(rows[-1])
    if last - first + 1 == rows.size:
        ends = prefix[first + 1 : last + 2]
        skip = min(max(0, window - first - 1), rows.size)
        out = np.empty_like(ends)
        out[:skip] = np.nan
        if skip < rows.size:
            out[skip:] = ends[skip:] - prefix[first + 1 + skip - window : last + 2 - window]
        return out
    picked: FloatArray = prefix[rows + 1] - prefix[np.maximum(rows + 1 - window, 0)]
    return picked


def trailing_sums(
    sums: FloatArray, counts: FloatArray, rows: IntArray, window: int, needed: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sum, count and mean over rows t-window+1..t for each t in ``rows``, from prefix sums
    (P[k] = sum of rows < k); NaN means where the window starts before the first row or
    holds fewer than ``needed`` finite values."""
    total = prefix_differences(sums, rows, window)
    count = prefix_differences(counts, rows, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    short = (rows + 1 - window < 0).reshape(-1, *([1] * (count.ndim - 1)))
    bad = (count < needed) | short
    if bad.shape == mean.shape:
        mean[bad] = np.nan
    else:  # a counts column (every return finite): whole rows
        mean[bad[:, 0]] = np.nan
    return total, count, mean


@dataclass(frozen=True)
class Moments:
    """Prefix sums of a returns array's finite values, squares and counts: every trailing
    figure of the engine (realized vols, HAR components and targets) is a difference of
    two of their rows."""

    r: FloatArray
    """Prefix sums of the returns (a missing one counts 0)."""
    rv: FloatArray
    """Prefix sums of the squared returns: the daily realized-variance proxy."""
    n: FloatArray
    """Prefix counts of finite returns: one column, the row numbers, when all are finite."""

    @classmethod
    def of(cls, returns: FloatArray) -> Moments:
        finite = np.isfinite(returns)
        if finite.all():
            # The usual block: the counts are the row numbers, one column that broadcasts
            # against the series, so the windows' counts cost a column, not a block.
            rows = np.arange(returns.shape[0] + 1, dtype=np.float64)
            counts = rows.reshape(-1, *([1] * (returns.ndim - 1)))
            return cls(prefix_sums(returns), prefix_sums(returns * returns), counts)
        r0 = np.where(finite, returns, 0.0)
        return cls(prefix_sums(r0), prefix_sums(r0 * r0), prefix_sums(finite.astype(float)))
