"""Reads of the risk tables: position betas, position volatility, snapshots.

API pages are keyset-paginated newest first (app.core.pagination); the writes are
app.risk_metrics.store's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Date, Row, Select, Uuid, bindparam, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import RowPage, keyset_page
from app.core.repository import api_columns
from app.core.types import DateRange
from app.formulas.book import DEFAULT_BETA_WINDOW
from app.models import PortfolioSnapshot, PositionMarketBeta, PositionVolatility
from app.models.snapshot import SNAPSHOT_RISK_COLUMNS
from app.portfolios.repository import (
    Owner,
    portfolio_is_visible,
    positions,
    require_portfolio,
    require_position,
    visible_positions,
)
from app.risk_metrics.rows import METHOD

# API reads: Core selects over the tables' columns (no ORM statement compilation or object
# loading), with the ownership check folded into the page query; only an empty page costs a
# second query, to tell "no rows" from "not yours / not there" (404).
# Decimals come back as their text (app.core.repository.api_columns), ready for a response.


@cache
def _with_symbol(table: type[PositionMarketBeta] | type[PositionVolatility]) -> Select[Any]:
    """The columns the API shows of ``table`` plus its position's ``symbol`` (one join).
    Built once per table (a select is immutable: each ``.where`` makes a new one)."""
    return select(*api_columns(table.__table__), positions.c.symbol).join_from(
        table.__table__, positions.table, positions.c.id == table.__table__.c.position_id
    )


# The page queries are built once per combination of filters, with bound parameters.
_PORTFOLIO_ID = bindparam("portfolio_id", type_=Uuid)
_POSITION_ID = bindparam("position_id", type_=Uuid)
_OWNER = bindparam("owner", type_=Uuid)


@cache
def _market_betas_query(as_of: bool) -> Select[Any]:
    t = PositionMarketBeta.__table__.c
    stmt = _with_symbol(PositionMarketBeta).where(
        t.portfolio_id == _PORTFOLIO_ID, portfolio_is_visible(_PORTFOLIO_ID, _OWNER)
    )
    if as_of:
        latest = (
            select(func.max(t.calc_date))
            .where(t.portfolio_id == _PORTFOLIO_ID, t.calc_date <= bindparam("as_of", type_=Date))
            .scalar_subquery()
        )
        stmt = stmt.where(t.calc_date == latest)
    return stmt


async def portfolio_market_betas(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    *,
    owner: uuid.UUID,
    as_of: date | None = None,
    limit: int,
    cursor: str | None = None,
) -> RowPage[Row[Any]]:
    """The portfolio's stored position betas, newest first, each with its position's symbol.

    With ``as_of``: only the betas of the latest calc_date on or before it (none if there is
    no such date), the same "as of" meaning as every other ``date`` parameter.
    """
    t = PositionMarketBeta.__table__.c
    page = await keyset_page(
        session,
        _market_betas_query(as_of is not None),
        t.calc_date,
        t.id,
        params={"portfolio_id": portfolio_id, "owner": owner, "as_of": as_of},
        limit=limit,
        cursor=cursor,
    )
    if not page.items:
        await require_portfolio(session, portfolio_id, owner=owner)
    return page


@cache
def _volatility_query(start: bool, end: bool) -> Select[Any]:
    t = PositionVolatility.__table__.c
    stmt = _with_symbol(PositionVolatility).where(
        t.position_id == _POSITION_ID, *visible_positions(_OWNER)
    )
    if start:
        stmt = stmt.where(t.calculation_date >= bindparam("start", type_=Date))
    if end:
        stmt = stmt.where(t.calculation_date <= bindparam("end", type_=Date))
    return stmt


async def position_volatility(
    session: AsyncSession,
    position_id: uuid.UUID,
    *,
    owner: uuid.UUID,
    start: date | None = None,
    end: date | None = None,
    limit: int,
    cursor: str | None = None,
) -> RowPage[Row[Any]]:
    """The position's stored volatility rows in [start, end], newest first, with its symbol."""
    DateRange(start, end)
    t = PositionVolatility.__table__.c
    page = await keyset_page(
        session,
        _volatility_query(start is not None, end is not None),
        t.calculation_date,
        t.id,
        params={"position_id": position_id, "owner": owner, "start": start, "end": end},
        limit=limit,
        cursor=cursor,
    )
    if not page.items:
        await require_position(session, position_id, owner=owner)
    return page


async def position_betas_on(
    session: AsyncSession, portfolio_id: uuid.UUID, day: date
) -> dict[uuid.UUID, PositionMarketBeta]:
    """The stored beta of each of the portfolio's positions on ``day`` (the engine's method;
    of several windows, the default window's, else the latest written)."""
    t = PositionMarketBeta
    stmt = (
        select(t)
        .where(t.portfolio_id == portfolio_id, t.calc_date == day, t.method == METHOD)
        .ext(distinct_on(t.position_id))
        .order_by(t.position_id, (t.window_days == DEFAULT_BETA_WINDOW).desc(), t.updated_at.desc())
    )
    return {row.position_id: row for row in (await session.scalars(stmt)).all()}


async def position_volatility_on(
    session: AsyncSession, position_ids: Sequence[uuid.UUID], day: date
) -> dict[uuid.UUID, PositionVolatility]:
    """The stored volatility row of each position on ``day``."""
    if not position_ids:
        return {}
    t = PositionVolatility
    stmt = select(t).where(t.position_id.in_(list(position_ids)), t.calculation_date == day)
    return {row.position_id: row for row in (await session.scalars(stmt)).all()}


async def excluded_positions_on(
    session: AsyncSession, portfolio_id: uuid.UUID, day: date
) -> dict[uuid.UUID, dict[str, Any]]:
    """The positions the portfolio's snapshot of ``day`` left out for want of a fresh price
    (its ``excluded_positions`` items), by position id."""
    items = await session.scalar(
        select(PortfolioSnapshot.excluded_positions).where(
            PortfolioSnapshot.portfolio_id == portfolio_id,
            PortfolioSnapshot.calculation_date == day,
        )
    )
    return {uuid.UUID(item["position_id"]): item for item in items or []}


SNAPSHOT_LIST_COLUMNS = ("sector_exposure", "excluded_positions")
"""The snapshot risk columns that hold a map or a list per date, not one figure."""

SNAPSHOT_FIGURE_COLUMNS: tuple[str, ...] = tuple(
    c for c in SNAPSHOT_RISK_COLUMNS if c not in SNAPSHOT_LIST_COLUMNS
)
"""The snapshot risk columns holding one figure each."""


async def snapshot_risk_history(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    *,
    owner: Owner,
    start: date | None = None,
    end: date | None = None,
) -> Sequence[Row[Any]]:
    """calculation_date and the :data:`SNAPSHOT_FIGURE_COLUMNS` of every snapshot in
    [start, end], oldest first; decimals as their text (app.core.repository.api_columns)."""
    DateRange(start, end)
    s = PortfolioSnapshot.__table__.c
    shown = {c.key: c for c in api_columns(PortfolioSnapshot.__table__)}
    stmt = select(s.calculation_date, *(shown[c] for c in SNAPSHOT_FIGURE_COLUMNS)).where(
        s.portfolio_id == portfolio_id, portfolio_is_visible(portfolio_id, owner)
    )
    if start is not None:
        stmt = stmt.where(s.calculation_date >= start)
    if end is not None:
        stmt = stmt.where(s.calculation_date <= end)
    rows = (await session.execute(stmt.order_by(s.calculation_date))).all()
    if not rows:
        await require_portfolio(session, portfolio_id, owner=owner)
    return rows
