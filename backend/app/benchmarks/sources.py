"""Where benchmark sector weights come from: FMP (constituents, then market caps).

Offline files are read by :mod:`app.benchmarks.files`; both end in
:func:`app.benchmarks.weights.compute_sector_weights`, so weights are computed and
checked the same way whatever their source.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from app.benchmarks.weights import (
    FMP_SOURCE,
    PRICE_WEIGHTED_BENCHMARKS,
    SectorWeights,
    compute_price_weights,
    compute_sector_weights,
)
from app.core.types import DEFAULT_BENCHMARK
from app.integrations.fmp.client import MARKET_CAP_BATCH_SIZE, FmpClient

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""``(requests_done, requests_total)`` after each HTTP request of the network phase."""


async def fetch_sector_weights(
    client: FmpClient,
    *,
    benchmark_code: str = DEFAULT_BENCHMARK,
    on_progress: ProgressCallback | None = None,
) -> SectorWeights:
    """Constituents, then their market caps in batches, then :func:`compute_sector_weights`
    (for a price-weighted index their last prices, then :func:`compute_price_weights`).
    1 + ceil(constituents / 100) requests: 7 for the S&P 500, 3 for the NASDAQ-100, 2 for
    the Dow."""
    constituents = await client.index_constituents(benchmark_code)
    symbols = list(dict.fromkeys(c.symbol for c in constituents))
    total = 1 + math.ceil(len(symbols) / MARKET_CAP_BATCH_SIZE)
    done = 1
    if on_progress is not None:
        on_progress(done, total)

    def batch_done(_: int) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    if benchmark_code in PRICE_WEIGHTED_BENCHMARKS:
        quotes = await client.quotes(symbols, on_batch=batch_done)
        return compute_price_weights(
            constituents, quotes, benchmark_code=benchmark_code, data_source=FMP_SOURCE
        )
    caps = await client.market_caps(symbols, on_batch=batch_done)
    logger.debug("%d constituents, %d market-cap rows", len(constituents), len(caps))
    return compute_sector_weights(
        constituents, caps, benchmark_code=benchmark_code, data_source=FMP_SOURCE
    )
