"""Changing who owns portfolios (operator tools; the API only reads)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Portfolio, User
from app.portfolios.repository import ANY_OWNER, get_portfolio


async def assign_owner(
    session: AsyncSession, portfolio_ids: Sequence[uuid.UUID], owner: User
) -> list[Portfolio]:
    """Give every portfolio in ``portfolio_ids`` to ``owner``. Each must be a live portfolio
    (PortfolioNotFoundError otherwise, before anything changes); flushes, the caller commits."""
    portfolios = [await get_portfolio(session, pid, owner=ANY_OWNER) for pid in portfolio_ids]
    for portfolio in portfolios:
        portfolio.owner_id = owner.id
    await session.flush()
    return portfolios
