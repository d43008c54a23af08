"""Reads of the factor tables for the API: a portfolio's exposures on one date.

The date is the latest with factor rows on or before the one asked (the latest overall
when none is asked), read together with the ownership check; only a miss asks whether
the portfolio is there at all (404 either way, another user's alike). A caller that has
read the portfolio owner-scoped already reads them without a second check
(:func:`factor_exposures_of`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFoundError
from app.models import Portfolio, PortfolioFactorExposure, PositionFactorExposure
from app.portfolios.repository import Owner, portfolio_is_visible, positions, require_portfolio


@dataclass(frozen=True)
class StoredFactorExposures:
    calculation_date: date
    portfolio: list[Row[Any]]
    """portfolio_factor_exposures rows of the date, in the factor file's order."""
    positions: list[Row[Any]]
    """position_factor_exposures rows of the date with the position's symbol, by symbol."""


async def factor_exposures(
    session: AsyncSession, portfolio_id: uuid.UUID, *, owner: Owner, on_or_before: date | None
) -> StoredFactorExposures:
    """The factor rows of the portfolio's latest date on or before ``on_or_before``;
    PortfolioNotFoundError when ``owner`` may not see it, NotFoundError without rows."""
    day = await session.scalar(
        _latest_date(portfolio_id, on_or_before).where(portfolio_is_visible(portfolio_id, owner))
    )
    if day is None:
        await require_portfolio(session, portfolio_id, owner=owner)
        raise _no_exposures(portfolio_id, on_or_before)
    return await _rows_on(session, portfolio_id, day)


async def factor_exposures_of(
    session: AsyncSession, portfolio: Portfolio, *, on_or_before: date | None
) -> StoredFactorExposures:
    """As :func:`factor_exposures`, of a portfolio the caller has read owner-scoped
    (app.portfolios.repository.get_portfolio), so not checked again."""
    day = await session.scalar(_latest_date(portfolio.id, on_or_before))
    if day is None:
        raise _no_exposures(portfolio.id, on_or_before)
    return await _rows_on(session, portfolio.id, day)


def _latest_date(portfolio_id: uuid.UUID, on_or_before: date | None) -> Select[date]:
    p = PortfolioFactorExposure.__table__.c
    latest = select(func.max(p.calculation_date)).where(p.portfolio_id == portfolio_id)
    if on_or_before is not None:
        latest = latest.where(p.calculation_date <= on_or_before)
    return latest


def _no_exposures(portfolio_id: uuid.UUID, on_or_before: date | None) -> NotFoundError:
    when = f" on or before {on_or_before}" if on_or_before is not None else ""
    return NotFoundError(
        f"portfolio {portfolio_id} has no factor exposures{when}: compute them with "
        "scripts/calculate_risk_metrics.py"
    )


async def _rows_on(
    session: AsyncSession, portfolio_id: uuid.UUID, day: date
) -> StoredFactorExposures:
    p = PortfolioFactorExposure.__table__.c
    portfolio_rows = (
        await session.execute(
            select(PortfolioFactorExposure.__table__).where(
                p.portfolio_id == portfolio_id, p.calculation_date == day
            )
        )
    ).all()
    f = PositionFactorExposure.__table__.c
    position_rows = (
        await session.execute(
            select(PositionFactorExposure.__table__, positions.c.symbol)
            .join_from(
                PositionFactorExposure.__table__, positions.table, positions.c.id == f.position_id
            )
            .where(f.portfolio_id == portfolio_id, f.calculation_date == day)
            .order_by(positions.c.symbol, f.position_id)
        )
    ).all()
    return StoredFactorExposures(day, list(portfolio_rows), list(position_rows))
