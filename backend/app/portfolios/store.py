"""Writing portfolios and positions.

Two kinds of writer. Loaders such as the demo put a whole book by ids (put_portfolio,
put_positions: keyed upserts, so writing the same book twice leaves the rows of one
write). The owner's changes (app.portfolios.book and app.portfolios.imports) first lock
the portfolio row (:func:`lock_portfolio`: two writes to one portfolio take turns), then
insert, change, close or soft-delete, and move the portfolio's stale mark
(:func:`mark_stale`), all in the caller's transaction. Taking a data set out (the demo's
``--remove``) deletes its portfolios for good (:func:`remove_portfolios`). Nothing here
commits. What a portfolio holds is read by app.portfolios.repository.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

import asyncpg
from sqlalchemy import Date, Uuid, any_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import EXIT_USAGE_ERROR, AppError, InputDataError
from app.core.input_files import shown
from app.core.repository import table_of, upsert
from app.models import Portfolio, Position
from app.portfolios.repository import (
    POSITION_FIELD_COLUMNS,
    Owner,
    PortfolioNotFoundError,
    StaleMark,
    portfolios,
    visible_portfolios,
)
from app.portfolios.repository import positions as stored_positions

NAME_INDEX = "uq_portfolios_owner_id_lower_name"


class PositionOfAnotherPortfolioError(InputDataError):
    """A position id given for one portfolio is another portfolio's position."""


class DuplicatePortfolioNameError(AppError):
    """The owner has a live portfolio of that name already (whatever its case)."""

    http_status = 409
    exit_code = EXIT_USAGE_ERROR


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


# --- the owner's changes --------------------------------------------------------------


async def lock_portfolio(
    session: AsyncSession, portfolio_id: uuid.UUID, *, owner: Owner
) -> Portfolio:
    """The portfolio, its row locked until the transaction ends (SELECT ... FOR UPDATE):
    every write to a portfolio takes this first, so two writes to one portfolio run one
    after the other and the second sees the first's rows. PortfolioNotFoundError unless
    it is visible to ``owner``."""
    found: Portfolio | None = await session.scalar(
        select(Portfolio)
        .where(portfolios.c.id == portfolio_id, *visible_portfolios(owner))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise PortfolioNotFoundError(f"unknown portfolio {portfolio_id}")
    return found


def _duplicate_name(exc: IntegrityError) -> bool:
    orig = getattr(exc.orig, "__cause__", None) or exc.orig
    return isinstance(orig, asyncpg.UniqueViolationError) and (
        getattr(orig, "constraint_name", None) == NAME_INDEX
    )


def _name_taken(name: str) -> DuplicatePortfolioNameError:
    return DuplicatePortfolioNameError(
        f"name: you have a portfolio named {shown(name)} already (names are unique "
        "among your portfolios, whatever their case)"
    )


async def insert_portfolio(session: AsyncSession, values: dict[str, Any]) -> Portfolio:
    """A new portfolio with ``values`` (owner_id among them); a name its owner uses
    already is a DuplicatePortfolioNameError (the unique index decides, so two requests
    at once cannot both win)."""
    portfolio = Portfolio(**values)
    session.add(portfolio)
    try:
        await session.flush()
    except IntegrityError as exc:
        if _duplicate_name(exc):
            raise _name_taken(values["name"]) from None
        raise
    return portfolio


async def update_portfolio(
    session: AsyncSession, portfolio: Portfolio, values: dict[str, Any]
) -> None:
    """Set ``values`` on the (locked) portfolio."""
    for field, value in values.items():
        setattr(portfolio, field, value)
    try:
        await session.flush()
    except IntegrityError as exc:
        if _duplicate_name(exc):
            raise _name_taken(values["name"]) from None
        raise


async def delete_portfolio(session: AsyncSession, portfolio_id: uuid.UUID) -> None:
    """Soft-delete the (locked) portfolio: gone from every read, its rows and stored
    figures kept."""
    await session.execute(portfolios.soft_delete(portfolios.c.id == portfolio_id))


# uuid4's bits: version 4 and the RFC 4122 variant over 122 random ones.
_CLEAR_VERSION = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)

POSITION_COLUMNS = ("id", "portfolio_id", *POSITION_FIELD_COLUMNS)
"""The columns :func:`insert_positions` writes (the rest take their defaults)."""


async def insert_positions(
    session: AsyncSession, portfolio_id: uuid.UUID, rows: list[dict[str, Any]]
) -> list[uuid.UUID]:
    """Insert ``rows`` (each with every one of the :data:`POSITION_COLUMNS` but id and
    portfolio_id) into the portfolio in one COPY; their new ids, in order."""
    if not rows:
        return []
    random = os.urandom(16 * len(rows))  # one read for every id, not one per uuid4()
    ids = [
        uuid.UUID(int=int.from_bytes(random[i : i + 16]) & _CLEAR_VERSION | _VERSION_4)
        for i in range(0, len(random), 16)
    ]
    fields = itemgetter(*POSITION_FIELD_COLUMNS)
    records = [(new_id, portfolio_id, *fields(row)) for new_id, row in zip(ids, rows, strict=True)]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    pg: Any = raw.driver_connection  # the asyncpg connection of this transaction
    await connection.execute(select(1))  # the adapter opens its transaction lazily
    await pg.copy_records_to_table(
        Position.__tablename__, records=records, columns=list(POSITION_COLUMNS)
    )
    return ids


async def update_position(
    session: AsyncSession, position_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Set ``values`` on the live position."""
    await session.execute(
        update(stored_positions.table)
        .where(stored_positions.live, stored_positions.c.id == position_id)
        .values(**values)
    )


async def close_positions(
    session: AsyncSession, position_ids: list[uuid.UUID], exit_date: date
) -> None:
    """Close the live positions: sold on ``exit_date``."""
    if position_ids:
        ids = bindparam("ids", position_ids, type_=ARRAY(Uuid()))  # one array, not N params
        await session.execute(
            update(stored_positions.table)
            .where(stored_positions.live, stored_positions.c.id == any_(ids))
            .values(exit_date=exit_date)
        )


async def delete_position(session: AsyncSession, position_id: uuid.UUID) -> None:
    """Soft-delete the position (an entry made by mistake): gone from every read."""
    await delete_positions(session, [position_id])


async def delete_positions(session: AsyncSession, position_ids: list[uuid.UUID]) -> None:
    """Soft-delete the positions, in one statement."""
    if position_ids:
        ids = bindparam("ids", position_ids, type_=ARRAY(Uuid()))  # one array, not N params
        await session.execute(stored_positions.soft_delete(stored_positions.c.id == any_(ids)))


# Stale marks, the one place they are written: a change moves the mark back to the
# earliest date it touches (never forward); a run clears it only if it did not move.


async def mark_stale(session: AsyncSession, portfolio_id: uuid.UUID, day: date | None) -> None:
    """The portfolio's figures are out of date from ``day`` on (None: nothing changed)."""
    if day is not None:
        await session.execute(
            update(portfolios.table)
            .where(portfolios.c.id == portfolio_id)
            .values(stale_from=func.least(portfolios.c.stale_from, day, type_=Date))
        )


async def clear_stale_mark(session: AsyncSession, portfolio_id: uuid.UUID, seen: StaleMark) -> bool:
    """Clear the mark if the portfolio row is as ``seen`` when the run read it: every
    change of the book moves the row's updated_at (mark_stale updates it even when the
    date stays), so a change made while the run computed keeps its mark. Whether it was
    cleared."""
    result = await session.execute(
        update(portfolios.table)
        .where(
            portfolios.c.id == portfolio_id,
            portfolios.c.stale_from == seen.stale_from,
            portfolios.c.updated_at == seen.updated_at,
        )
        .values(stale_from=None)
        .returning(portfolios.c.id)
    )
    return result.first() is not None


# --- taking a data set out ----------------------------------------------------------


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
