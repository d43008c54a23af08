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
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    Exists,
    Row,
    ScalarSelect,
    Select,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFoundError
from app.core.repository import LiveRows
from app.models import Portfolio, PortfolioSnapshot, Position
from app.prices.repository import market_day_on_or_before


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


portfolios = LiveRows(Portfolio)
"""The live portfolios: every read of the table starts here."""
positions = LiveRows(Position)
"""The live positions: every read of the table starts here."""


def visible_portfolios(owner: Owner | BindParameter[uuid.UUID]) -> list[ColumnElement[bool]]:
    """WHERE clauses: the portfolio is live and, unless ``ANY_OWNER``, owned by ``owner``
    (``owner`` may be a bound parameter, in a query built once). Over the table's columns,
    so ORM and Core selects alike take them."""
    clauses = [portfolios.live]
    if owner is not ANY_OWNER:
        clauses.append(portfolios.c.owner_id == owner)
    return clauses


def visible_positions(owner: Owner | BindParameter[uuid.UUID]) -> list[ColumnElement[bool]]:
    """WHERE clauses: the position is live and its portfolio (joined by these clauses) is
    visible to ``owner``."""
    return [
        positions.live,
        portfolios.c.id == positions.c.portfolio_id,
        *visible_portfolios(owner),
    ]


def portfolio_is_visible(
    portfolio_id: uuid.UUID | BindParameter[uuid.UUID], owner: Owner | BindParameter[uuid.UUID]
) -> Exists:
    """EXISTS: the portfolio is visible to ``owner``. Uncorrelated, so a query that filters
    on it checks ownership once, in the same round trip as the rows it reads."""
    return exists().where(portfolios.c.id == portfolio_id, *visible_portfolios(owner))


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
    stmt = select(exists().where(positions.c.id == position_id, *visible_positions(owner)))
    if not await session.scalar(stmt):
        raise PositionNotFoundError(f"unknown position {position_id}")


async def get_portfolio(
    session: AsyncSession, portfolio_id: uuid.UUID, *, owner: Owner
) -> Portfolio:
    portfolio: Portfolio | None = await session.scalar(
        select(Portfolio).where(portfolios.c.id == portfolio_id, *visible_portfolios(owner))
    )
    if portfolio is None:
        raise PortfolioNotFoundError(f"unknown portfolio {portfolio_id}")
    return portfolio


async def find_portfolio(session: AsyncSession, name_or_id: str, *, owner: Owner) -> Portfolio:
    """The visible portfolio with this id, or else this name (whatever its case: names
    are unique among an owner's live portfolios); PortfolioNotFoundError otherwise."""
    try:
        return await get_portfolio(session, uuid.UUID(name_or_id), owner=owner)
    except ValueError:
        pass
    found: Portfolio | None = await session.scalar(
        select(Portfolio)
        .where(
            func.lower(portfolios.c.name) == name_or_id.strip().lower(), *visible_portfolios(owner)
        )
        .limit(1)
    )
    if found is None:
        raise PortfolioNotFoundError(f"no portfolio named or with id {name_or_id!r}")
    return found


async def list_portfolios(session: AsyncSession, *, owner: Owner) -> list[Portfolio]:
    """The visible portfolios, by name."""
    stmt = select(Portfolio).where(*visible_portfolios(owner)).order_by(portfolios.c.name)
    return list((await session.scalars(stmt)).all())


async def get_position(session: AsyncSession, position_id: uuid.UUID, *, owner: Owner) -> Position:
    position: Position | None = await session.scalar(
        select(Position).where(positions.c.id == position_id, *visible_positions(owner))
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
    """As stored: the shares (contracts) held on ``quantity_date``."""
    quantity_date: date | None = None
    """The day the stored quantity counts on: a closed position's last held day; None
    while it is held still (today's quantity, after every split up to today)."""
    entry_value_price: float = float("nan")
    """What one unit was worth when no close of its series is stored: the entry price of a
    stock, the strike of an option (its underlying's price level; NaN without one)."""


# Held on a date, the one statement of the rule: a position is held at the close of each
# day from its entry date through its last held day, the day before its exit date (sold
# that day) and its expiration date (held that day), whichever comes first; NULL when it
# has neither, held still. Readers fetch the two days as values and only compare them.
first_held_day: ColumnElement[date] = positions.c.entry_date
last_held_day: ColumnElement[date] = func.least(
    positions.c.exit_date - 1, positions.c.expiration_date, type_=Date
)


def held_between(portfolio_id: uuid.UUID, start: date, end: date) -> list[ColumnElement[bool]]:
    """WHERE clauses: the portfolio's positions held at the close of some day in [start,
    end]. (Live rows: the callers read from ``positions.select()``.)"""
    return [
        positions.c.portfolio_id == portfolio_id,
        first_held_day <= end,
        or_(last_held_day.is_(None), last_held_day >= start),
    ]


async def active_positions(
    session: AsyncSession, portfolio_id: uuid.UUID, day: date
) -> list[HeldPosition]:
    """Positions held at the close of ``day``, by symbol."""
    return [span.position for span in await positions_held_between(session, portfolio_id, day, day)]


@dataclass(frozen=True)
class HeldSpan:
    """A position and the days it is held: :data:`first_held_day` through
    :data:`last_held_day` (None: held still), as the database computed them."""

    position: HeldPosition
    first_day: date
    last_day: date | None

    def held_on(self, day: date) -> bool:
        return self.first_day <= day and (self.last_day is None or day <= self.last_day)


_HELD_COLUMNS = (
    positions.c.id,
    positions.c.symbol,
    positions.c.underlying_symbol,
    positions.c.position_type,
    positions.c.quantity,
    func.coalesce(positions.c.strike_price, positions.c.entry_price),
    last_held_day,
)
"""What a :class:`HeldPosition` is made of (:func:`_held_position`'s arguments)."""


def _held_position(
    pid: uuid.UUID,
    symbol: str,
    underlying: str | None,
    position_type: str,
    quantity: Decimal,
    unit: Decimal | None,
    last_day: date | None,
) -> HeldPosition:
    return HeldPosition(
        pid,
        symbol,
        underlying or symbol,
        position_type,
        float(quantity),
        last_day,
        float("nan") if unit is None else float(unit),
    )


async def positions_held_between(
    session: AsyncSession, portfolio_id: uuid.UUID, start: date, end: date
) -> list[HeldSpan]:
    """Every live position of the portfolio held on some day in [start, end], by symbol
    (one query; ``HeldSpan.held_on`` tells the days)."""
    c = positions.c
    rows = await session.execute(
        positions.select(*_HELD_COLUMNS, first_held_day)
        .where(*held_between(portfolio_id, start, end))
        .order_by(c.symbol, c.id)
    )
    spans = []
    for *held, first in rows:
        position = _held_position(*held)
        spans.append(HeldSpan(position, first, position.quantity_date))
    return spans


class HeldRow(NamedTuple):
    """A held position as a replacing import compares it: its id and the columns a
    position's fields are (:data:`POSITION_FIELD_COLUMNS`, in that order)."""

    id: uuid.UUID
    symbol: str
    position_type: str
    quantity: Decimal
    entry_date: date
    entry_price: Decimal
    exit_date: date | None
    exit_price: Decimal | None
    underlying_symbol: str | None
    strike_price: Decimal | None
    expiration_date: date | None


async def held_rows(session: AsyncSession, portfolio_id: uuid.UUID, day: date) -> list[HeldRow]:
    """The live positions held at the close of ``day``, by symbol: the book a replacing
    import compares its file with."""
    c = positions.c
    stmt = positions.select(*(c[name] for name in HeldRow._fields)).where(
        *held_between(portfolio_id, day, day)
    )
    # Plain tuples: a Row's attribute access costs more than the rest of the diff.
    return [HeldRow._make(row) for row in await session.execute(stmt.order_by(c.symbol, c.id))]


POSITION_FIELD_COLUMNS = (
    "symbol",
    "position_type",
    "quantity",
    "entry_date",
    "entry_price",
    "exit_date",
    "exit_price",
    "underlying_symbol",
    "strike_price",
    "expiration_date",
)
"""The columns an owner sets of a position (app.portfolios.rules.PositionIn's fields)."""
assert HeldRow._fields == ("id", *POSITION_FIELD_COLUMNS)


async def open_position_count(session: AsyncSession, portfolio_id: uuid.UUID) -> int:
    """The portfolio's live positions not closed (no exit date)."""
    c = positions.c
    stmt = positions.select(func.count()).where(
        c.portfolio_id == portfolio_id, c.exit_date.is_(None)
    )
    return int(await session.scalar(stmt) or 0)


async def held_series(session: AsyncSession, portfolio_ids: Sequence[uuid.UUID]) -> list[str]:
    """The price series (an option's underlying) of every live position of the portfolios,
    whatever the dates they are held."""
    c = positions.c
    stmt = (
        positions.select(func.coalesce(c.underlying_symbol, c.symbol))
        .where(c.portfolio_id.in_(portfolio_ids))
        .distinct()
    )
    return list(await session.scalars(stmt))


async def held_positions(
    session: AsyncSession, portfolio_id: uuid.UUID, day: date
) -> list[tuple[Position, HeldPosition]]:
    """The Position rows held at the close of ``day``, by symbol, each with its
    :class:`HeldPosition` (what a valuation reads of it; one query)."""
    stmt = (
        positions.select(Position, *_HELD_COLUMNS)
        .where(*held_between(portfolio_id, day, day))
        .order_by(positions.c.symbol, positions.c.id)
    )
    return [(position, _held_position(*held)) for position, *held in await session.execute(stmt)]


async def portfolio_summaries(
    session: AsyncSession, *, owner: Owner
) -> Sequence[Row[uuid.UUID, str, date | None, date | None, date | None]]:
    """(id, name, latest_snapshot_date, stale_from, prices_as_of) of the visible
    portfolios, by name then id (one query: the latest date and the last SPY price date on
    or before it are index lookups per portfolio)."""
    latest = latest_snapshot_of(portfolios.c.id).scalar_subquery()
    listed = (
        select(
            portfolios.c.id,
            portfolios.c.name,
            latest.label("latest_snapshot_date"),
            portfolios.c.stale_from,
        )
        .where(*visible_portfolios(owner))
        .subquery("listed")
    )
    stmt = select(
        listed,
        market_day_on_or_before(listed.c.latest_snapshot_date).label("prices_as_of"),
    ).order_by(listed.c.name, listed.c.id)
    return (await session.execute(stmt)).all()


def latest_snapshot_of(
    portfolio_id: uuid.UUID | ColumnElement[uuid.UUID], on_or_before: date | None = None
) -> Select[tuple[date | None]]:
    """SELECT the portfolio's latest snapshot date on or before ``on_or_before`` (latest
    overall if None); NULL when there is none. ``portfolio_id`` may be a column, as a
    subquery per portfolio."""
    s = PortfolioSnapshot.__table__.c
    stmt = select(func.max(s.calculation_date)).where(s.portfolio_id == portfolio_id)
    if on_or_before is not None:
        stmt = stmt.where(s.calculation_date <= on_or_before)
    return stmt


async def latest_snapshot_date(
    session: AsyncSession, portfolio_id: uuid.UUID, on_or_before: date | None = None
) -> date | None:
    """:func:`latest_snapshot_of`, read."""
    latest: date | None = await session.scalar(latest_snapshot_of(portfolio_id, on_or_before))
    return latest


@dataclass(frozen=True)
class StaleMark:
    """A portfolio whose figures are out of date from ``stale_from``, as read at
    ``updated_at`` (what app.portfolios.store.clear_stale_mark compares)."""

    portfolio_id: uuid.UUID
    name: str
    stale_from: date
    updated_at: datetime


async def stale_marks(session: AsyncSession, only: uuid.UUID | None = None) -> list[StaleMark]:
    """The live portfolios (or ``only``) marked stale, by name."""
    c = portfolios.c
    stmt = portfolios.select(c.id, c.name, c.stale_from, c.updated_at).where(
        c.stale_from.is_not(None)
    )
    if only is not None:
        stmt = stmt.where(c.id == only)
    rows = await session.execute(stmt.order_by(c.name, c.id))
    return [StaleMark(*row) for row in rows]


def stale_from_of(portfolio_id: uuid.UUID) -> ScalarSelect[date | None]:
    """The portfolio's stale mark, as a scalar subquery (for a read of its figures)."""
    return select(portfolios.c.stale_from).where(portfolios.c.id == portfolio_id).scalar_subquery()


def benchmark_code_of(portfolio_id: uuid.UUID) -> ScalarSelect[str]:
    """The portfolio's own benchmark, as a scalar subquery (for a read of its figures)."""
    return (
        select(portfolios.c.benchmark_code).where(portfolios.c.id == portfolio_id).scalar_subquery()
    )


async def portfolio_counts_by_owner(session: AsyncSession) -> dict[uuid.UUID, int]:
    """Live portfolios per owner (owners with none are absent)."""
    owner_id = portfolios.c.owner_id
    rows = await session.execute(
        portfolios.select(owner_id, func.count()).where(owner_id.is_not(None)).group_by(owner_id)
    )
    return {owner: count for owner, count in rows if owner is not None}


async def owned_portfolio_ids(session: AsyncSession, owner_id: uuid.UUID) -> list[uuid.UUID]:
    """Every portfolio of ``owner_id``, soft-deleted ones included (taking an account's
    data out, not a read for a request)."""
    stmt = portfolios.select(portfolios.c.id, include_deleted=True).where(
        portfolios.c.owner_id == owner_id
    )
    return list(await session.scalars(stmt))


def first_entry_of(
    portfolio_id: uuid.UUID | ColumnElement[uuid.UUID],
) -> Select[tuple[date | None]]:
    """SELECT the earliest entry date of the portfolio's live positions (closed ones too);
    NULL without positions: where a calculation of its whole history starts."""
    return positions.select(func.min(first_held_day)).where(
        positions.c.portfolio_id == portfolio_id
    )


async def first_entry_date(session: AsyncSession, portfolio_id: uuid.UUID) -> date | None:
    """:func:`first_entry_of`, read."""
    first: date | None = await session.scalar(first_entry_of(portfolio_id))
    return first


class FiguresExtent(NamedTuple):
    """A live portfolio and the days its figures cover or should."""

    portfolio_id: uuid.UUID
    name: str
    latest_snapshot_date: date | None
    """Its last computed day (None: never computed)."""
    first_entry_date: date | None
    """Its positions' first held day (closed ones too; None: no position)."""
    stale_from: date | None
    """Its stale mark (None: its figures are current)."""


async def figures_extents(session: AsyncSession) -> list[FiguresExtent]:
    """Every live portfolio, whoever owns it (operator work), with its latest snapshot
    date, first entry date (as :func:`first_entry_date`) and stale mark, by name then id:
    one query, the two dates an index lookup per portfolio."""
    c = portfolios.c
    latest = latest_snapshot_of(c.id).scalar_subquery()
    first_entry = first_entry_of(c.id).scalar_subquery()
    rows = await session.execute(
        portfolios.select(c.id, c.name, latest, first_entry, c.stale_from).order_by(c.name, c.id)
    )
    return [FiguresExtent._make(row) for row in rows]


async def figures_resting_on(
    session: AsyncSession, symbol: str, since: date
) -> list[tuple[uuid.UUID, str, date]]:
    """(id, name, first snapshot date on or after ``since``) of the live portfolios with
    stored figures from ``since`` on that hold the series ``symbol`` (a stock, an option's
    underlying) on some day from then: those figures read its prices of ``since`` on."""
    c, s = positions.c, PortfolioSnapshot
    holds = positions.select(c.id).where(
        c.portfolio_id == portfolios.c.id,
        func.coalesce(c.underlying_symbol, c.symbol) == symbol,
        or_(last_held_day.is_(None), last_held_day >= since),
    )
    first_computed = (
        select(func.min(s.calculation_date))
        .where(s.portfolio_id == portfolios.c.id, s.calculation_date >= since)
        .scalar_subquery()
    )
    rows = await session.execute(
        portfolios.select(portfolios.c.id, portfolios.c.name, first_computed)
        .where(holds.exists(), first_computed.is_not(None))
        .order_by(portfolios.c.name, portfolios.c.id)
    )
    return [(pid, name, first) for pid, name, first in rows]


async def latest_figures_date(session: AsyncSession) -> date | None:
    """The latest snapshot date of any portfolio (None: no figures stored yet)."""
    return await session.scalar(select(func.max(PortfolioSnapshot.calculation_date)))
