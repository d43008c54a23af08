"""Which portfolio-dates a batch run covers, and the price history they share."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.market_data.repository import PriceHistory, load_price_history, trading_days
from app.models import Portfolio, Position
from app.risk_metrics.engine import HISTORY_DAYS, PortfolioNotFoundError


async def portfolios_to_run(
    session: AsyncSession, only: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, str]]:
    """(id, name) of the live portfolios, or of ``only`` (PortfolioNotFoundError if unknown)."""
    stmt = select(Portfolio.id, Portfolio.name).where(Portfolio.deleted_at.is_(None))
    if only is not None:
        stmt = stmt.where(Portfolio.id == only)
    rows = [(pid, name) for pid, name in await session.execute(stmt.order_by(Portfolio.name))]
    if only is not None and not rows:
        raise PortfolioNotFoundError(f"no portfolio {only}")
    return rows


async def dates_to_run(
    session: AsyncSession, start: date, end: date, *, single: bool
) -> list[date]:
    """``[start]`` for a single date (as asked, trading day or not), else the market's
    trading days in [start, end]."""
    if single:
        return [start]
    return await trading_days(session, start, end)


async def shared_history(
    session: AsyncSession, portfolio_ids: list[uuid.UUID], start: date, end: date
) -> PriceHistory:
    """Prices of every series the portfolios hold, loaded once for the whole run."""
    series = await session.scalars(
        select(func.coalesce(Position.underlying_symbol, Position.symbol))
        .where(Position.portfolio_id.in_(portfolio_ids), Position.deleted_at.is_(None))
        .distinct()
    )
    return await load_price_history(
        session, list(series), start=start, end=end, rows_before_start=HISTORY_DAYS
    )
