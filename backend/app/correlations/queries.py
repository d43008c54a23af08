"""Reads the correlations need beyond the book and the prices: the trading day a request
stands on."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import DailyPrice
from app.prices.repository import MARKET_INDEX


async def trading_day_on_or_before(session: AsyncSession, day: date | None) -> date | None:
    """The market index's last trading day on or before ``day`` (its last overall when
    None); None when it has no price then."""
    stmt = select(func.max(DailyPrice.date)).where(DailyPrice.symbol == MARKET_INDEX)
    if day is not None:
        stmt = stmt.where(DailyPrice.date <= day)
    return await session.scalar(stmt)
