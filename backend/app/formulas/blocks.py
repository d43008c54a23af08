"""Series blocks and the thread pool that computes them side by side.

Every figure of the engine is per series (one column of a (days, series) array), so a
book's series split into column blocks computed independently: a block's arrays stay in
a core's cache across the dozens of passes a figure takes, and blocks run on threads
(numpy releases the GIL inside array operations) with the same figures, bit for bit, on
any number of threads.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

SERIES_BLOCK = 256
"""Fewest series computed together (betas, volatility). Every figure is per series, and
the figures take dozens of passes over (days, series) arrays: a block's arrays stay in
a core's cache across them, where arrays of thousands of series would go to memory on
every pass, and a pass's transient arrays are a block's, not the book's."""

BLOCK_CELLS = 192_000
"""Days x series of a block when the history is short enough for wider blocks than
:data:`SERIES_BLOCK` to stay in cache (at 300 days: 640 series, 1.5 MB an array). On
two threads fewer, wider blocks hand the GIL over less often between array operations.
One thread gains nothing from them and keeps :data:`SERIES_BLOCK`, as do long
histories, where wider blocks leave the cache."""

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
