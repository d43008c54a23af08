"""The engine's price panel (load_price_history) read from PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.prices.repository import PriceRow, load_price_history, upsert_prices


def _price(symbol: str, day: int, close: str, adjusted: str | None = None) -> PriceRow:
    return PriceRow(symbol, date(2025, 10, day), Decimal(close), Decimal(adjusted or close))


async def test_panel_keeps_market_days_reads_the_total_return_close_and_leaves_gaps_nan(
    session: AsyncSession,
) -> None:
    rows = [_price("SPY", d, str(600 + d)) for d in (13, 14, 15, 16, 17)] + [
        _price("AAA", 13, "10.5", adjusted="10.25"),  # a dividend came after the 13th
        _price("AAA", 15, "11"),
        _price("AAA", 18, "99"),  # no market day
        _price("BBB", 17, "7.125"),
        _price("CCC", 16, "1"),  # not asked for
    ]
    await upsert_prices(session, rows, "DEMO")

    history = await load_price_history(
        session,
        ["BBB", "AAA"],
        start=date(2025, 10, 16),
        end=date(2025, 10, 17),
        rows_before_start=2,
    )

    assert history.dates == [date(2025, 10, d) for d in (14, 15, 16, 17)]
    assert history.symbols == ["AAA", "BBB"]
    np.testing.assert_array_equal(history.market, [614.0, 615.0, 616.0, 617.0])
    expected = np.array([[np.nan, np.nan], [11.0, np.nan], [np.nan, np.nan], [np.nan, 7.125]])
    np.testing.assert_array_equal(history.closes, expected)

    earlier = await load_price_history(
        session, ["AAA"], start=date(2025, 10, 13), end=date(2025, 10, 13), rows_before_start=5
    )
    np.testing.assert_array_equal(earlier.closes, [[10.25]])
