"""Writing portfolios and positions: a portfolio created or updated by its id, positions
written into it by theirs.

Both are keyed upserts, so writing the same book twice leaves the rows of one write.
Nothing here commits: the caller's transaction holds the writes. What a portfolio holds
is read by app.portfolios.repository.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InputDataError
from app.core.repository import upsert
from app.models import Portfolio, Position
from app.portfolios.repository import positions as stored_positions


class PositionOfAnotherPortfolioError(InputDataError):
    """A position id given for one portfolio is another portfolio's position."""


@dataclass(frozen=True)
class PortfolioFields:
    """What a writer sets of a portfolio (the rest keeps its default or stored value)."""

    name: str
    description: str | None = None
    equity_balance: Decimal | None = None
    owner_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PositionFields:
    """What a writer sets of a position (options name their underlying, strike and
    expiration; the rest keeps its default or stored value)."""

    symbol: str
    position_type: str
    quantity: Decimal
    entry_price: Decimal
    entry_date: date
    underlying_symbol: str | None = None
    last_price: Decimal | None = None
    strike_price: Decimal | None = None
    expiration_date: date | None = None


_PORTFOLIO_COLUMNS = tuple(f.name for f in fields(PortfolioFields))
_POSITION_COLUMNS = ("portfolio_id", *(f.name for f in fields(PositionFields)))


async def put_portfolio(
    session: AsyncSession, portfolio_id: uuid.UUID, portfolio: PortfolioFields
) -> None:
    """Create the portfolio ``portfolio_id`` with these fields, or set them on it when it
    exists (a soft-deleted one stays deleted)."""
    stmt = upsert(Portfolio, update=_PORTFOLIO_COLUMNS, index_elements=["id"])
    await session.execute(stmt, [{"id": portfolio_id, **asdict(portfolio)}])


async def put_positions(
    session: AsyncSession, portfolio_id: uuid.UUID, positions: Mapping[uuid.UUID, PositionFields]
) -> None:
    """Create each position of ``positions`` (by id) in the portfolio, or set its fields
    when it exists there. An id of another portfolio's position (deleted or not) is a
    PositionOfAnotherPortfolioError, before anything is written."""
    if not positions:
        return
    c = stored_positions.c
    elsewhere = await session.scalar(
        stored_positions.select(c.id, include_deleted=True)
        .where(c.id.in_(list(positions)), c.portfolio_id != portfolio_id)
        .limit(1)
    )
    if elsewhere is not None:
        raise PositionOfAnotherPortfolioError(
            f"position {elsewhere} belongs to another portfolio than {portfolio_id}"
        )
    rows = [
        {"id": position_id, "portfolio_id": portfolio_id, **asdict(position)}
        for position_id, position in positions.items()
    ]
    await session.execute(upsert(Position, update=_POSITION_COLUMNS, index_elements=["id"]), rows)
