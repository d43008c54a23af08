"""Sums over many row windows of a (days, series) array at once.

Every windowed figure of the engine (betas, realized vols, the HAR fit) is a sum over a
window of rows ending at a calculation date. ``window_sums`` gives them for any number of
windows: one window is summed directly; several come from one prefix sum (cumulative sum
over the rows), so a year of dates costs one pass over the history instead of one per date.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from app.risk.returns import FloatArray

IntArray = NDArray[np.intp]

SERIES_BLOCK = 256
"""Series computed together (betas, volatility). Every figure is per series, and the
figures take dozens of passes over (days, series) arrays: a block's arrays (a few hundred
KB each) stay in a core's cache across them, where arrays of thousands of series would
go to memory on every pass (about 1.6x slower at 5,000 series), and a pass's transient
arrays are a block's, not the book's."""


def series_blocks(series: int) -> list[slice]:
    """Column slices of about :data:`SERIES_BLOCK` series (equal widths) covering
    ``series`` columns. None is one column wide unless there is one column: numpy sums a
    single column in another order, so its last bits would depend on the blocking."""
    count = max(1, -(-series // SERIES_BLOCK))
    bounds = [round(k * series / count) for k in range(count + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


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
