"""Reads and writes of the risk tables: position betas, position volatility, snapshots.

Reads are keyset-paginated newest first (app.core.pagination). Writes are bulk upserts on
each table's natural key plus the deletion of rows a re-run no longer produces, so a
re-run of a portfolio-date leaves exactly what one run leaves. Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Row, Select, delete, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import RowPage, keyset_page
from app.core.repository import upsert
from app.core.types import DateRange
from app.models import PortfolioSnapshot, Position, PositionMarketBeta, PositionVolatility
from app.models.snapshot import SNAPSHOT_RISK_COLUMNS
from app.portfolios.repository import Owner, get_portfolio, get_position
from app.risk.book import DEFAULT_BETA_WINDOW
from app.risk_metrics.rows import METHOD


def _with_symbol(table: type[PositionMarketBeta] | type[PositionVolatility]) -> Select[Any]:
    """Every column of ``table`` plus its position's ``symbol`` (one join, no per-row load)."""
    columns = [getattr(table, attr.key) for attr in table.__mapper__.column_attrs]
    return select(*columns, Position.symbol).join(Position, Position.id == table.position_id)


async def portfolio_market_betas(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    *,
    owner: Owner,
    as_of: date | None = None,
    limit: int,
    cursor: str | None = None,
) -> RowPage[Row[Any]]:
    """The portfolio's stored position betas, newest first, each with its position's symbol.

    With ``as_of``: only the betas of the latest calc_date on or before it (none if there is
    no such date), the same "as of" meaning as every other ``date`` parameter.
    """
    await get_portfolio(session, portfolio_id, owner=owner)
    t = PositionMarketBeta
    stmt = _with_symbol(t).where(t.portfolio_id == portfolio_id)
    if as_of is not None:
        latest = (
            select(func.max(t.calc_date))
            .where(t.portfolio_id == portfolio_id, t.calc_date <= as_of)
            .scalar_subquery()
        )
        stmt = stmt.where(t.calc_date == latest)
    return await keyset_page(session, stmt, t.calc_date, t.id, limit=limit, cursor=cursor)


async def position_volatility(
    session: AsyncSession,
    position_id: uuid.UUID,
    *,
    owner: Owner,
    start: date | None = None,
    end: date | None = None,
    limit: int,
    cursor: str | None = None,
) -> RowPage[Row[Any]]:
    """The position's stored volatility rows in [start, end], newest first, with its symbol."""
    DateRange(start, end)
    await get_position(session, position_id, owner=owner)
    t = PositionVolatility
    stmt = _with_symbol(t).where(t.position_id == position_id)
    if start is not None:
        stmt = stmt.where(t.calculation_date >= start)
    if end is not None:
        stmt = stmt.where(t.calculation_date <= end)
    return await keyset_page(session, stmt, t.calculation_date, t.id, limit=limit, cursor=cursor)


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


SNAPSHOT_FIGURE_COLUMNS: tuple[str, ...] = tuple(
    c for c in SNAPSHOT_RISK_COLUMNS if c != "sector_exposure"
)
"""The snapshot risk columns holding one figure each (sector_exposure is a map per date)."""


async def snapshot_risk_history(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    *,
    owner: Owner,
    start: date | None = None,
    end: date | None = None,
) -> Sequence[Row[Any]]:
    """calculation_date and the :data:`SNAPSHOT_FIGURE_COLUMNS` of every snapshot in
    [start, end], oldest first."""
    DateRange(start, end)
    await get_portfolio(session, portfolio_id, owner=owner)
    s = PortfolioSnapshot
    stmt = select(s.calculation_date, *(getattr(s, c) for c in SNAPSHOT_FIGURE_COLUMNS)).where(
        s.portfolio_id == portfolio_id
    )
    if start is not None:
        stmt = stmt.where(s.calculation_date >= start)
    if end is not None:
        stmt = stmt.where(s.calculation_date <= end)
    return (await session.execute(stmt.order_by(s.calculation_date))).all()


# --- writes -------------------------------------------------------------------------


async def upsert_position_betas(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Bulk upsert on (portfolio_id, position_id, calc_date, method, window_days)."""
    if not rows:
        return
    stmt = upsert(
        PositionMarketBeta,
        constraint="uq_position_market_betas_calc",
        update=(
            "beta",
            "alpha",
            "r_squared",
            "std_error",
            "p_value",
            "observations",
            "market_index",
        ),
    )
    await session.execute(stmt, rows)


async def upsert_position_volatility(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Bulk upsert on (position_id, calculation_date)."""
    if not rows:
        return
    stmt = upsert(
        PositionVolatility,
        constraint="uq_position_volatility_position_date",
        update=[c for c in rows[0] if c not in ("position_id", "calculation_date")],
    )
    await session.execute(stmt, rows)


async def upsert_snapshot(session: AsyncSession, row: dict[str, Any]) -> None:
    """Create the (portfolio, date) snapshot or update only its risk columns."""
    stmt = upsert(
        PortfolioSnapshot,
        constraint="uq_portfolio_snapshots_portfolio_date",
        update=SNAPSHOT_RISK_COLUMNS,
    )
    await session.execute(stmt.values(row))


async def delete_stale_rows(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    calc_date: date,
    beta_window: int,
    beta_rows: list[dict[str, Any]],
    vol_rows: list[dict[str, Any]],
) -> None:
    """Remove the portfolio-date's betas and vols that ``beta_rows``/``vol_rows`` no longer hold."""
    kept_betas = [r["position_id"] for r in beta_rows]
    await session.execute(
        delete(PositionMarketBeta).where(
            PositionMarketBeta.portfolio_id == portfolio_id,
            PositionMarketBeta.calc_date == calc_date,
            PositionMarketBeta.method == METHOD,
            PositionMarketBeta.window_days == beta_window,
            PositionMarketBeta.position_id.not_in(kept_betas),
        )
    )
    kept_vols = [r["position_id"] for r in vol_rows]
    portfolio_positions = select(Position.id).where(Position.portfolio_id == portfolio_id)
    await session.execute(
        delete(PositionVolatility).where(
            PositionVolatility.calculation_date == calc_date,
            PositionVolatility.position_id.in_(portfolio_positions),
            PositionVolatility.position_id.not_in(kept_vols),
        )
    )
