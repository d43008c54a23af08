"""Reads and writes of the risk tables: position betas, position volatility, snapshots.

Reads are keyset-paginated newest first (app.core.pagination). Writes are bulk upserts on
each table's natural key plus the deletion of rows a re-run no longer produces, so a
re-run of a portfolio-date leaves exactly what one run leaves. Nothing here commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import RowPage, keyset_page
from app.core.repository import api_columns, upsert
from app.core.types import DateRange
from app.models import (
    Portfolio,
    PortfolioSnapshot,
    Position,
    PositionMarketBeta,
    PositionVolatility,
)
from app.models.snapshot import SNAPSHOT_RISK_COLUMNS
from app.portfolios.repository import (
    Owner,
    portfolio_is_visible,
    portfolios_c,
    require_portfolio,
    require_position,
    visible_portfolio_rows,
)
from app.risk.book import DEFAULT_BETA_WINDOW
from app.risk_metrics.rows import METHOD

# API reads: Core selects over the tables' columns (no ORM statement compilation or object
# loading), with the ownership check folded into the page query; only an empty page costs a
# second query, to tell "no rows" from "not yours / not there" (404).
# Decimals come back as their text (app.core.repository.api_columns), ready for a response.
_positions = Position.__table__.c


@cache
def _with_symbol(table: type[PositionMarketBeta] | type[PositionVolatility]) -> Select[Any]:
    """The columns the API shows of ``table`` plus its position's ``symbol`` (one join).
    Built once per table (a select is immutable: each ``.where`` makes a new one)."""
    return select(*api_columns(table.__table__), _positions.symbol).join_from(
        table.__table__, Position.__table__, _positions.id == table.__table__.c.position_id
    )


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
    t = PositionMarketBeta.__table__.c
    stmt = _with_symbol(PositionMarketBeta).where(
        t.portfolio_id == portfolio_id, portfolio_is_visible(portfolio_id, owner)
    )
    if as_of is not None:
        latest = (
            select(func.max(t.calc_date))
            .where(t.portfolio_id == portfolio_id, t.calc_date <= as_of)
            .scalar_subquery()
        )
        stmt = stmt.where(t.calc_date == latest)
    page = await keyset_page(session, stmt, t.calc_date, t.id, limit=limit, cursor=cursor)
    if not page.items:
        await require_portfolio(session, portfolio_id, owner=owner)
    return page


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
    t = PositionVolatility.__table__.c
    stmt = (
        _with_symbol(PositionVolatility)
        .join(Portfolio.__table__, portfolios_c.id == _positions.portfolio_id)
        .where(
            t.position_id == position_id,
            _positions.deleted_at.is_(None),
            *visible_portfolio_rows(owner),
        )
    )
    if start is not None:
        stmt = stmt.where(t.calculation_date >= start)
    if end is not None:
        stmt = stmt.where(t.calculation_date <= end)
    page = await keyset_page(session, stmt, t.calculation_date, t.id, limit=limit, cursor=cursor)
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


@dataclass(frozen=True)
class RemovedFigures:
    """What :func:`delete_risk_figures` removed."""

    position_betas: int
    position_volatility: int
    snapshots_cleared: int


async def delete_risk_figures(
    session: AsyncSession, start: date, end: date, portfolio_ids: list[uuid.UUID] | None = None
) -> RemovedFigures:
    """Remove the risk figures of the dates in [start, end] (of ``portfolio_ids`` only, if
    given): their position betas and position volatility rows, and the risk columns of
    their snapshots (set to NULL; the snapshot row and its valuation columns stay)."""
    betas = delete(PositionMarketBeta).where(PositionMarketBeta.calc_date.between(start, end))
    vols = delete(PositionVolatility).where(PositionVolatility.calculation_date.between(start, end))
    snapshots = update(PortfolioSnapshot).where(
        PortfolioSnapshot.calculation_date.between(start, end),
        or_(*(getattr(PortfolioSnapshot, c).is_not(None) for c in SNAPSHOT_RISK_COLUMNS)),
    )
    if portfolio_ids is not None:
        betas = betas.where(PositionMarketBeta.portfolio_id.in_(portfolio_ids))
        vols = vols.where(
            PositionVolatility.position_id.in_(
                select(Position.id).where(Position.portfolio_id.in_(portfolio_ids))
            )
        )
        snapshots = snapshots.where(PortfolioSnapshot.portfolio_id.in_(portfolio_ids))
    removed_betas = await session.execute(betas)
    removed_vols = await session.execute(vols)
    cleared = await session.execute(snapshots.values(dict.fromkeys(SNAPSHOT_RISK_COLUMNS)))
    return RemovedFigures(
        removed_betas.rowcount,  # type: ignore[attr-defined]
        removed_vols.rowcount,  # type: ignore[attr-defined]
        cleared.rowcount,  # type: ignore[attr-defined]
    )


# --- COPY writes of many portfolio-dates --------------------------------------------

_BETA_COLUMNS = (
    "portfolio_id",
    "position_id",
    "calc_date",
    "beta",
    "alpha",
    "r_squared",
    "std_error",
    "p_value",
    "observations",
    "window_days",
    "method",
    "market_index",
)
_VOL_COLUMNS = tuple(
    c.name
    for c in PositionVolatility.__table__.columns
    if c.name not in ("id", "created_at", "updated_at")
)
_SNAPSHOT_KEY = ("portfolio_id", "calculation_date")
_SNAPSHOT_VALUATION = (
    "gross_exposure",
    "net_exposure",
    "long_value",
    "short_value",
    "num_positions",
)
_SNAPSHOT_COLUMNS = (*_SNAPSHOT_KEY, *_SNAPSHOT_VALUATION, *SNAPSHOT_RISK_COLUMNS)


def _copy_value(value: Any) -> Any:
    # Floats go as their shortest repr, the text a bound parameter sends, so the column's
    # rounding is the same whichever way a figure is written; JSONB as JSON text.
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return json.dumps(value)
    return value


async def _copy(
    pg: Any, temp: str, like: str, columns: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    await pg.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {temp} (LIKE {like} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    await pg.execute(f"TRUNCATE {temp}")
    if rows:
        records = [tuple(_copy_value(r.get(c)) for c in columns) for r in rows]
        await pg.copy_records_to_table(temp, records=records, columns=list(columns))


async def store_portfolio_dates(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    calc_dates: Sequence[date],
    beta_window: int,
    beta_rows: list[dict[str, Any]],
    vol_rows: list[dict[str, Any]],
    snapshot_rows: list[dict[str, Any]],
) -> None:
    """Store the figures of one portfolio on ``calc_dates``: each table's rows COPYed into
    a temporary table, then one set-based upsert and one stale-row delete per table, so
    the dates' stored rows are exactly these (as a re-run of each date would leave them).
    Runs in the caller's transaction (a chunk of whole dates)."""
    # Every identifier spliced into SQL below is a constant of this module; values are
    # parameters or COPY data.
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    pg: Any = raw.driver_connection  # the asyncpg connection of this transaction
    # SQLAlchemy's asyncpg adapter opens the transaction on its first statement; the raw
    # statements below must run inside it (ON COMMIT DROP, and all-or-nothing).
    await connection.execute(select(1))
    assert pg.is_in_transaction()
    days = list(calc_dates)

    await _copy(pg, "tmp_position_market_betas", "position_market_betas", _BETA_COLUMNS, beta_rows)
    beta_updates = ", ".join(f"{c} = excluded.{c}" for c in (*_BETA_COLUMNS[3:9], "market_index"))
    cols = ", ".join(_BETA_COLUMNS)
    await pg.execute(
        f"INSERT INTO position_market_betas ({cols}) SELECT {cols} FROM tmp_position_market_betas"  # noqa: S608 (identifiers are module constants)
        f" ON CONFLICT ON CONSTRAINT uq_position_market_betas_calc DO UPDATE SET {beta_updates}"
    )
    await pg.execute(
        "DELETE FROM position_market_betas b WHERE b.portfolio_id = $1"
        " AND b.calc_date = ANY($2::date[]) AND b.method = $3 AND b.window_days = $4"
        " AND NOT EXISTS (SELECT 1 FROM tmp_position_market_betas t"
        " WHERE t.position_id = b.position_id AND t.calc_date = b.calc_date)",
        portfolio_id,
        days,
        METHOD,
        beta_window,
    )

    await _copy(pg, "tmp_position_volatility", "position_volatility", _VOL_COLUMNS, vol_rows)
    cols = ", ".join(_VOL_COLUMNS)
    vol_updates = ", ".join(
        f"{c} = excluded.{c}" for c in _VOL_COLUMNS if c not in ("position_id", "calculation_date")
    )
    await pg.execute(
        f"INSERT INTO position_volatility ({cols}) SELECT {cols} FROM tmp_position_volatility"  # noqa: S608 (identifiers are module constants)
        " ON CONFLICT ON CONSTRAINT uq_position_volatility_position_date"
        f" DO UPDATE SET {vol_updates}"
    )
    await pg.execute(
        "DELETE FROM position_volatility v USING positions p"
        " WHERE p.id = v.position_id AND p.portfolio_id = $1"
        " AND v.calculation_date = ANY($2::date[])"
        " AND NOT EXISTS (SELECT 1 FROM tmp_position_volatility t"
        " WHERE t.position_id = v.position_id AND t.calculation_date = v.calculation_date)",
        portfolio_id,
        days,
    )

    await _copy(
        pg, "tmp_portfolio_snapshots", "portfolio_snapshots", _SNAPSHOT_COLUMNS, snapshot_rows
    )
    cols = ", ".join(_SNAPSHOT_COLUMNS)
    risk_updates = ", ".join(f"{c} = excluded.{c}" for c in SNAPSHOT_RISK_COLUMNS)
    await pg.execute(
        f"INSERT INTO portfolio_snapshots ({cols}) SELECT {cols} FROM tmp_portfolio_snapshots"  # noqa: S608 (identifiers are module constants)
        " ON CONFLICT ON CONSTRAINT uq_portfolio_snapshots_portfolio_date"
        f" DO UPDATE SET {risk_updates}"
    )
