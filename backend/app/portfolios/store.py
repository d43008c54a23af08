"""Writing portfolios and positions: a portfolio created or updated by its id, positions
written into it by theirs; portfolios removed for good when a data set is taken out.

Both are keyed upserts, so writing the same book twice leaves the rows of one write.
Nothing here commits: the caller's transaction holds the writes. What a portfolio holds
is read by app.portfolios.repository.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InputDataError
from app.core.repository import table_of, upsert
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


@dataclass(frozen=True)
class RemovedPortfolio:
    name: str
    positions: int
    """Its positions, soft-deleted ones included."""


async def remove_portfolios(
    session: AsyncSession, portfolio_ids: Collection[uuid.UUID]
) -> list[RemovedPortfolio]:
    """Delete the portfolios for good, soft-deleted or not, with their positions and every
    figure stored for them (the foreign keys cascade): taking a data set out (the demo's
    ``--remove``), never a user's delete, which is soft. Returns what went, by name."""
    if not portfolio_ids:
        return []
    ids = list(portfolio_ids)
    c = stored_positions.c
    rows = await session.execute(
        stored_positions.select(c.portfolio_id, func.count(), include_deleted=True)
        .where(c.portfolio_id.in_(ids))
        .group_by(c.portfolio_id)
    )
    counts: dict[uuid.UUID, int] = {pid: n for pid, n in rows}
    table = table_of(Portfolio)
    deleted = await session.execute(
        delete(table).where(table.c.id.in_(ids)).returning(table.c.id, table.c.name)
    )
    removed = [RemovedPortfolio(name, counts.get(pid, 0)) for pid, name in deleted]
    return sorted(removed, key=lambda r: r.name)
