"""Paginated reads of position market betas and position volatility, newest first.

Keyset pagination on (date, id) descending: a page is "rows strictly after the cursor in
that order", so rows are neither repeated nor skipped across pages, and deep pages cost
the same as the first (both tables are indexed on (owner, date)).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import InvalidQueryError
from app.models import PositionMarketBeta, PositionVolatility
from app.portfolios.repository import Owner, get_portfolio, get_position

RowT = TypeVar("RowT", PositionMarketBeta, PositionVolatility)


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: the next page starts strictly after it."""

    day: date
    id: uuid.UUID

    def encode(self) -> str:
        payload = json.dumps([self.day.isoformat(), str(self.id)], separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            parsed = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not (
                isinstance(parsed, list)
                and len(parsed) == 2
                and all(isinstance(part, str) for part in parsed)
            ):
                raise ValueError("not a [date, id] pair")
            return cls(date.fromisoformat(parsed[0]), uuid.UUID(parsed[1]))
        except (ValueError, binascii.Error, RecursionError):  # UnicodeError is a ValueError
            raise InvalidQueryError(
                "invalid cursor: pass back the next_cursor of a previous page unchanged"
            ) from None


@dataclass(frozen=True)
class RowPage(Generic[RowT]):
    items: Sequence[RowT]
    next_cursor: str | None


async def _page(
    session: AsyncSession,
    stmt: Select[Any],
    day_column: InstrumentedAttribute[date],
    id_column: InstrumentedAttribute[uuid.UUID],
    *,
    limit: int,
    cursor: str | None,
) -> RowPage[Any]:
    if limit < 1:
        raise InvalidQueryError("limit must be at least 1")
    if cursor is not None:
        after = Cursor.decode(cursor)
        stmt = stmt.where(tuple_(day_column, id_column) < tuple_(after.day, after.id))
    # One row beyond the page tells whether there is a next page.
    stmt = stmt.order_by(day_column.desc(), id_column.desc()).limit(limit + 1)
    rows = (await session.scalars(stmt)).all()
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = Cursor(getattr(last, day_column.key), getattr(last, id_column.key)).encode()
    return RowPage(items, next_cursor)


async def portfolio_market_betas(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    *,
    owner: Owner,
    calc_date: date | None = None,
    limit: int,
    cursor: str | None = None,
) -> RowPage[PositionMarketBeta]:
    """The portfolio's stored position betas (one calc_date if given), newest first."""
    await get_portfolio(session, portfolio_id, owner=owner)
    t = PositionMarketBeta
    stmt = select(t).where(t.portfolio_id == portfolio_id)
    if calc_date is not None:
        stmt = stmt.where(t.calc_date == calc_date)
    return await _page(session, stmt, t.calc_date, t.id, limit=limit, cursor=cursor)


async def position_volatility(
    session: AsyncSession,
    position_id: uuid.UUID,
    *,
    owner: Owner,
    start: date | None = None,
    end: date | None = None,
    limit: int,
    cursor: str | None = None,
) -> RowPage[PositionVolatility]:
    """The position's stored volatility rows in [start, end], newest first."""
    if start is not None and end is not None and start > end:
        raise InvalidQueryError(f"'from' ({start}) is after 'to' ({end})")
    await get_position(session, position_id, owner=owner)
    t = PositionVolatility
    stmt = select(t).where(t.position_id == position_id)
    if start is not None:
        stmt = stmt.where(t.calculation_date >= start)
    if end is not None:
        stmt = stmt.where(t.calculation_date <= end)
    return await _page(session, stmt, t.calculation_date, t.id, limit=limit, cursor=cursor)
