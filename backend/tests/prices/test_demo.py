"""The demo's prices go through the one price upsert, like every other source."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import DailyPrice
from app.prices.demo import DEMO_EMAIL, DEMO_END, DEMO_SOURCE, load_demo_data
from app.prices.repository import PriceRow, upsert_prices
from app.users.service import ensure_user


async def test_demo_over_csv_prices_leaves_no_stale_adjusted_close(session: AsyncSession) -> None:
    # A CSV load stored an adjusted close; the engine reads returns from it, so a demo load
    # over it must replace it, not keep it beside the demo's close.
    await upsert_prices(
        session,
        [PriceRow("SPY", DEMO_END, Decimal("500"), adjusted_close=Decimal("123.45"), volume=7)],
        "CSV",
    )
    owner = await ensure_user(session, DEMO_EMAIL)
    await load_demo_data(session, owner_id=owner.user.id)

    row = (
        await session.execute(
            select(
                DailyPrice.close, DailyPrice.adjusted_close, DailyPrice.volume, DailyPrice.source
            )
            .where(DailyPrice.symbol == "SPY", DailyPrice.date == DEMO_END)
            .execution_options(populate_existing=True)
        )
    ).one()
    assert row.adjusted_close == row.close  # no split or dividend in the synthetic series
    assert row.volume is None
    assert row.source == DEMO_SOURCE
    assert row.close != Decimal("500")


async def test_demo_load_is_idempotent(session: AsyncSession) -> None:
    owner = await ensure_user(session, DEMO_EMAIL)
    first = await load_demo_data(session, owner_id=owner.user.id)
    second = await load_demo_data(session, owner_id=owner.user.id)
    assert first == second
    count = len((await session.scalars(select(DailyPrice.id))).all())
    assert count == first.prices
    assert first.last_date == DEMO_END and first.first_date < date(2024, 1, 1)
