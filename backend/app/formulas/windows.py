"""Sums over many row windows of a (days, series) array at once.

Every windowed figure of the engine (betas, realized vols, the HAR fit) is a sum over a
window of rows ending at a calculation date. ``window_sums`` gives them for any number of
windows: one window is summed directly; several come from one prefix sum (cumulative sum
over the rows), so a year of dates costs one pass over the history instead of one per date.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from app.formulas.returns import FloatArray

IntArray = NDArray[np.intp]

SERIES_BLOCK = 256
"""Fewest series computed together (betas, volatility). Every figure is per series, and
the figures take dozens of passes over (days, series) arrays: a block's arrays stay in
a core's cache across them, where arrays of thousands of series would go to memory on
every pass (about 1.6x slower at 5,000 series), and a pass's transient arrays are a
block's, not the book's."""

BLOCK_CELLS = 192_000
"""Days x series of a block when the history is short enough for wider blocks than
:data:`SERIES_BLOCK` to stay in cache (at 300 days: 640 series, 1.5 MB an array). On
two threads fewer, wider blocks hand the GIL over less often between array operations
(5,000 series x 300 days, medians: 256 series 0.059 s, 512 0.048 s, 640 0.042 s, 1,024
0.068 s, out of cache). One thread gains nothing from them (0.062 s from 256 to 768
series) and keeps :data:`SERIES_BLOCK`, as do long histories (1,000 series x 1,400
days, 63 dates, one thread: 0.30 s, 0.55 s at 640 series)."""


SERIES_THREADS = min(2, os.cpu_count() or 1)
"""Threads that compute series blocks side by side by default. numpy releases the GIL
inside array operations, and the blocks are independent, so the figures are the same
bit for bit on any number of threads. A caller that keeps another core busy itself (the
backfill writes beside its compute thread) passes 1."""

_T = TypeVar("_T")


@cache
def _executor(threads: int) -> ThreadPoolExecutor:
    # One pool per thread count for the life of the process: starting threads per call
    # would cost more than a small book's compute.
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="risk-blocks")


def resolve_threads(threads: int | None, tasks: int) -> int:
    """Threads that ``tasks`` independent tasks run on: ``threads`` (default
    :data:`SERIES_THREADS`), at most one per task, at least one."""
    return max(1, min(SERIES_THREADS if threads is None else threads, tasks))


def map_blocks(fn: Callable[[slice], _T], blocks: list[slice], threads: int | None) -> list[_T]:
    """``[fn(b) for b in blocks]``, on up to ``threads`` threads (default
    :data:`SERIES_THREADS`); results in the order of ``blocks``."""
    workers = resolve_threads(threads, len(blocks))
    if workers == 1:
        return [fn(b) for b in blocks]
    return list(_executor(workers).map(fn, blocks))


def split_columns(series: int, threads: int | None) -> list[slice]:
    """``series`` columns in one slice per thread (default :data:`SERIES_THREADS`), for
    work whose arrays are one row per series, where a block's cache would not pay."""
    count = resolve_threads(threads, series)
    bounds = [round(k * series / count) for k in range(count + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def series_blocks(series: int, days: int, threads: int | None) -> list[slice]:
    """Column slices of equal widths covering ``series`` columns of ``days`` rows:
    :data:`SERIES_BLOCK` series wide on one thread, on more about :data:`BLOCK_CELLS`
    cells when that is wider. None is one column wide unless there is one column: numpy
    sums a single column in another order, so its last bits would depend on the
    blocking."""
    width = SERIES_BLOCK
    if resolve_threads(threads, series) > 1:
        width = max(width, BLOCK_CELLS // max(days, 1))
    width = max(width, 1)
    count = max(1, -(-series // width))
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
