"""Reading portfolios and positions: the one rule for "does it exist, and may I see it".

A portfolio is visible when it is live (not soft-deleted) and, for a signed-in user, owned
by that user. A portfolio of another user, or one with no owner yet, is reported exactly as
one that does not exist (the same error, the same message), so ids cannot be probed. A
position is visible when it is live and its portfolio is visible.

Operator tools (the scripts, run with database access) pass :data:`ANY_OWNER` and see every
live portfolio; request handlers pass the signed-in user's id. The argument has no default,
so no caller can forget to choose.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import BindParameter, ColumnElement, Exists, Row, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFoundError
from app.core.repository import live
from app.models import Portfolio, PortfolioSnapshot, Position


class _AnyOwner(enum.Enum):
    ANY_OWNER = "any owner"


ANY_OWNER = _AnyOwner.ANY_OWNER
"""Every live portfolio, whoever owns it: for operator tools, never for a request."""

Owner = uuid.UUID | Literal[_AnyOwner.ANY_OWNER]
"""Whose portfolios a query may see: a user's id, or :data:`ANY_OWNER`."""


class PortfolioNotFoundError(NotFoundError):
    """No live portfolio with this id that the caller may see."""


class PositionNotFoundError(NotFoundError):
    """No live position with this id in a portfolio the caller may see."""


def visible_portfolios(owner: Owner) -> list[ColumnElement[bool]]:
    """WHERE clauses: the portfolio is live and, unless ``ANY_OWNER``, owned by ``owner``."""
    clauses = [live(Portfolio)]
    if owner is not ANY_OWNER:
        clauses.append(Portfolio.owner_id == owner)
    return clauses


# Request-path reads below use the tables' columns (SQLAlchemy Core) rather than the mapped
# classes: the same SQL, without the ORM's statement compilation and object loading.
portfolios_c = Portfolio.__table__.c
positions_c = Position.__table__.c


def visible_portfolio_rows(owner: Owner | BindParameter[uuid.UUID]) -> list[ColumnElement[bool]]:
    """:func:`visible_portfolios` over the ``portfolios`` table's columns, for Core selects
    (``owner`` may be a bound parameter, in a query built once)."""
    clauses: list[ColumnElement[bool]] = [portfolios_c.deleted_at.is_(None)]
    if owner is not ANY_OWNER:
        clauses.append(portfolios_c.owner_id == owner)
    return clauses


def portfolio_is_visible(
    portfolio_id: uuid.UUID | BindParameter[uuid.UUID], owner: Owner | BindParameter[uuid.UUID]
) -> Exists:
    """EXISTS: the portfolio is visible to ``owner``. Uncorrelated, so a query that filters
    on it checks ownership once, in the same round trip as the rows it reads."""
    return exists().where(portfolios_c.id == portfolio_id, *visible_portfolio_rows(owner))


async def require_portfolio(
    session: AsyncSession, portfolio_id: uuid.UUID, *, owner: Owner
) -> None:
    """PortfolioNotFoundError unless the portfolio is visible to ``owner`` (as
    :func:`get_portfolio`, without loading it)."""
    if not await session.scalar(select(portfolio_is_visible(portfolio_id, owner))):
        raise PortfolioNotFoundError(f"unknown portfolio {portfolio_id}")


async def require_position(session: AsyncSession, position_id: uuid.UUID, *, owner: Owner) -> None:
    """PositionNotFoundError unless the position is visible to ``owner`` (as
    :func:`get_position`, without loading it)."""
    stmt = select(
        exists()
        .where(positions_c.id == position_id, positions_c.deleted_at.is_(None))
        .where(portfolios_c.id == positions_c.portfolio_id, *visible_portfolio_rows(owner))
    )
    if not await session.scalar(stmt):
        raise PositionNotFoundError(f"unknown position {position_id}")


async def get_portfolio(
    session: AsyncSession, portfolio_id: uuid.UUID, *, owner: Owner
) -> Portfolio:
    portfolio = await session.scalar(
        select(Portfolio).where(Portfolio.id == portfolio_id, *visible_portfolios(owner))
    )
    if portfolio is None:
        raise PortfolioNotFoundError(f"unknown portfolio {portfolio_id}")
    return portfolio


async def list_portfolios(session: AsyncSession, *, owner: Owner) -> list[Portfolio]:
    """The visible portfolios, by name."""
    stmt = select(Portfolio).where(*visible_portfolios(owner)).order_by(Portfolio.name)
    return list((await session.scalars(stmt)).all())


async def get_position(session: AsyncSession, position_id: uuid.UUID, *, owner: Owner) -> Position:
    position = await session.scalar(
        select(Position)
        .join(Portfolio, Portfolio.id == Position.portfolio_id)
        .where(Position.id == position_id, live(Position), *visible_portfolios(owner))
    )
    if position is None:
        raise PositionNotFoundError(f"unknown position {position_id}")
    return position


@dataclass(frozen=True)
class HeldPosition:
    id: uuid.UUID
    symbol: str
    series_symbol: str
    """The price series the position moves with: the underlying for options."""
    position_type: str
    quantity: float


def held_between(portfolio_id: uuid.UUID, start: date, end: date) -> list[ColumnElement[bool]]:
    """WHERE clauses: the portfolio's positions held at the close of some day in [start, end]:
    entered on or before ``end``, not exited or expired before ``start``, not deleted."""
    return [
        Position.portfolio_id == portfolio_id,
        live(Position),
        Position.entry_date <= end,
        or_(Position.exit_date.is_(None), Position.exit_date > start),
        or_(Position.expiration_date.is_(None), Position.expiration_date >= start),
    ]


def held_on(portfolio_id: uuid.UUID, day: date) -> list[ColumnElement[bool]]:
    """WHERE clauses: the portfolio's positions held at the close of ``day``."""
    return held_between(portfolio_id, day, day)


async def active_positions(
    session: AsyncSession, portfolio_id: uuid.UUID, day: date
) -> list[HeldPosition]:
    """Positions held at the close of ``day`` (see :func:`held_on`), by symbol."""
    return [span.position for span in await positions_held_between(session, portfolio_id, day, day)]


@dataclass(frozen=True)
class HeldSpan:
    """A position and the dates it is held (the rule of :func:`held_on`, for many dates)."""

    position: HeldPosition
    entry_date: date
    exit_date: date | None
    expiration_date: date | None

    def held_on(self, day: date) -> bool:
        # The same rule as held_on's WHERE clauses.
        return (
            self.entry_date <= day
            and (self.exit_date is None or self.exit_date > day)
            and (self.expiration_date is None or self.expiration_date >= day)
        )


async def positions_held_between(
    session: AsyncSession, portfolio_id: uuid.UUID, start: date, end: date
) -> list[HeldSpan]:
    """Every live position of the portfolio held on some day in [start, end], by symbol
    (one query; ``HeldSpan.held_on`` tells the days)."""
    rows = await session.execute(
        select(
            Position.id,
            Position.symbol,
            Position.underlying_symbol,
            Position.position_type,
            Position.quantity,
            Position.entry_date,
            Position.exit_date,
            Position.expiration_date,
        )
        .where(*held_between(portfolio_id, start, end))
        .order_by(Position.symbol, Position.id)
    )
    return [
        HeldSpan(
            HeldPosition(pid, symbol, underlying or symbol, ptype, float(qty)), entry, exit_, expiry
        )
        for pid, symbol, underlying, ptype, qty, entry, exit_, expiry in rows
    ]


async def held_positions(
    session: AsyncSession, portfolio_id: uuid.UUID, day: date
) -> list[Position]:
    """The Position rows held at the close of ``day`` (see :func:`held_on`), by symbol."""
    stmt = (
        select(Position).where(*held_on(portfolio_id, day)).order_by(Position.symbol, Position.id)
    )
    return list((await session.scalars(stmt)).all())


async def portfolio_summaries(
    session: AsyncSession, *, owner: Owner
) -> Sequence[Row[uuid.UUID, str, date | None]]:
    """(id, name, latest_snapshot_date) of the visible portfolios, by name then id (one
    query: the latest date is an index-only lookup per portfolio)."""
    snapshots = PortfolioSnapshot.__table__.c
    latest = (
        select(func.max(snapshots.calculation_date))
        .where(snapshots.portfolio_id == portfolios_c.id)
        .scalar_subquery()
    )
    stmt = (
        select(portfolios_c.id, portfolios_c.name, latest.label("latest_snapshot_date"))
        .where(*visible_portfolio_rows(owner))
        .order_by(portfolios_c.name, portfolios_c.id)
    )
    return (await session.execute(stmt)).all()


async def latest_snapshot_date(
    session: AsyncSession, portfolio_id: uuid.UUID, on_or_before: date | None = None
) -> date | None:
    """The portfolio's latest snapshot date on or before ``on_or_before`` (latest overall
    if None); None when there is none."""
    s = PortfolioSnapshot
    stmt = select(func.max(s.calculation_date)).where(s.portfolio_id == portfolio_id)
    if on_or_before is not None:
        stmt = stmt.where(s.calculation_date <= on_or_before)
    return await session.scalar(stmt)


async def portfolio_counts_by_owner(session: AsyncSession) -> dict[uuid.UUID, int]:
    """Live portfolios per owner (owners with none are absent)."""
    rows = await session.execute(
        select(Portfolio.owner_id, func.count())
        .where(live(Portfolio), Portfolio.owner_id.is_not(None))
        .group_by(Portfolio.owner_id)
    )
    return {owner_id: count for owner_id, count in rows if owner_id is not None}
