"""The engine's price panel (load_price_history) read from PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.prices.repository import PriceRow, load_price_history, upsert_prices


async def test_panel_keeps_market_days_prefers_adjusted_close_and_leaves_gaps_nan(
    session: AsyncSession,
) -> None:
    rows = [
        PriceRow("SPY", date(2025, 10, d), Decimal(str(600 + d)), None, None)
        for d in (13, 14, 15, 16, 17)
    ] + [
        PriceRow("AAA", date(2025, 10, 13), Decimal("10.5"), Decimal("10.25"), None),
        PriceRow("AAA", date(2025, 10, 15), Decimal("11"), None, None),
        PriceRow("AAA", date(2025, 10, 18), Decimal("99"), None, None),  # no market day
        PriceRow("BBB", date(2025, 10, 17), Decimal("7.125"), None, None),
        PriceRow("CCC", date(2025, 10, 16), Decimal("1"), None, None),  # not asked for
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
