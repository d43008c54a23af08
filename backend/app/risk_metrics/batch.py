"""Which portfolio-dates a batch run covers, and the price history they share."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from app.portfolios.repository import ANY_OWNER, get_portfolio, held_series, list_portfolios
from app.prices.repository import PriceHistory, load_price_history, trading_days
from app.risk_metrics.calculation import HISTORY_DAYS


async def portfolios_to_run(
    session: AsyncSession, only: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, str]]:
    """(id, name) of every live portfolio, whoever owns it (an operator run), or of ``only``
    (PortfolioNotFoundError if it is unknown or deleted)."""
    if only is not None:
        portfolios = [await get_portfolio(session, only, owner=ANY_OWNER)]
    else:
        portfolios = await list_portfolios(session, owner=ANY_OWNER)
    return [(p.id, p.name) for p in portfolios]


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
    return await load_price_history(
        session,
        await held_series(session, portfolio_ids),
        start=start,
        end=end,
        rows_before_start=HISTORY_DAYS,
    )
