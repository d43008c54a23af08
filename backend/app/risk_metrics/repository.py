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

from sqlalchemy import Date, Row, Select, Uuid, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import binary_copy
from app.core.pagination import RowPage, keyset_page
from app.core.repository import api_columns
from app.core.types import DateRange
from app.formulas.book import DEFAULT_BETA_WINDOW
from app.formulas.volatility import TRENDS
from app.models import (
    PortfolioSnapshot,
    PositionMarketBeta,
    PositionVolatility,
)
from app.models.snapshot import SNAPSHOT_RISK_COLUMNS
from app.portfolios.repository import (
    Owner,
    portfolio_is_visible,
    positions,
    require_portfolio,
    require_position,
    visible_positions,
)
from app.prices.repository import MARKET_INDEX
from app.risk_metrics.rows import (
    BETA_FIGURES,
    BETA_RECORD,
    METHOD,
    VOL_FIGURES,
    VOL_RECORD,
    FigureRows,
)

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
        # A deleted position's figures on these dates go with the others.
        of_portfolios = positions.select(positions.c.id, include_deleted=True).where(
            positions.c.portfolio_id.in_(portfolio_ids)
        )
        vols = vols.where(PositionVolatility.position_id.in_(of_portfolios))
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

# Position figures travel as float8 (NaN for NULL) in PostgreSQL's binary COPY format,
# built column by column with numpy (no Python object per row or value), into temporary
# tables (keyed, so the stale-row delete probes them instead of scanning them per row),
# and become NUMERIC in the set-based INSERT: the server rounds each to its column's
# scale, so a figure is stored the same whichever run wrote it. Every identifier spliced
# into SQL below is a constant of this module; values are parameters or COPY data.
_BETA_TEMP = (
    "CREATE TEMP TABLE IF NOT EXISTS tmp_position_market_betas (position_id uuid,"
    " calc_date date, beta float8, alpha float8, r_squared float8, std_error float8,"
    " p_value float8, observations integer, PRIMARY KEY (position_id, calc_date))"
    " ON COMMIT DELETE ROWS"
)
_VOL_TEMP = (
    "CREATE TEMP TABLE IF NOT EXISTS tmp_position_volatility (position_id uuid,"
    " calculation_date date, realized_vol_21d float8, realized_vol_63d float8,"
    " vol_daily float8, vol_weekly float8, vol_monthly float8, expected_vol_21d float8,"
    " vol_trend_strength float8, vol_percentile float8, model_r_squared float8,"
    " vol_trend smallint, observations integer, PRIMARY KEY (position_id, calculation_date))"
    " ON COMMIT DELETE ROWS"
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


def _copy_buffer(rows: FigureRows) -> bytes:
    """``rows`` as a binary COPY into the temporary tables' columns (uuid, date, float8
    figures, [smallint trend,] integer observations): every field has a fixed size (a NULL
    figure is NaN until the INSERT)."""
    return binary_copy.encode(
        [
            ("id", rows.position_id, "V16"),
            ("day", rows.calc_date, ">i4"),
            *((f"f{i}", rows.figures[:, i], ">f8") for i in range(rows.figures.shape[1])),
            *([("trend", rows.trend, ">i2")] if rows.trend.size else []),  # volatility rows
            ("obs", rows.observations, ">i4"),
        ]
    )


def _nulled(column: str) -> str:
    return f"NULLIF({column}, 'NaN')"


def _copy_value(value: Any) -> Any:
    # Floats go as their shortest repr, the text a bound parameter sends; JSONB as JSON text.
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return json.dumps(value)
    return value


async def _refill(pg: Any, create: str, temp: str) -> None:
    await pg.execute(create)
    await pg.execute(f"TRUNCATE {temp}")


async def _fill_figures(
    pg: Any, create: str, temp: str, columns: Sequence[str], rows: FigureRows
) -> None:
    """The temporary table ``temp`` holding exactly ``rows``, sent as one binary COPY."""
    await _refill(pg, create, temp)
    if len(rows):
        await pg.copy_to_table(
            temp,
            source=memoryview(_copy_buffer(rows)),  # bytes would be a path
            columns=list(columns),
            format="binary",
        )


async def store_portfolio_dates(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    calc_dates: Sequence[date],
    beta_window: int,
    beta_rows: FigureRows,
    vol_rows: FigureRows,
    snapshot_rows: list[dict[str, Any]],
) -> None:
    """Store the figures of one portfolio on ``calc_dates``: each table's rows COPYed into
    a temporary table, then one set-based insert per table, so the dates' stored rows are
    exactly these (as a re-run of each date would leave them). ``beta_rows`` /
    ``vol_rows`` hold rows.BETA_RECORD / rows.VOL_RECORD columns. Runs in the caller's
    transaction (a chunk of whole dates).

    Dates that hold none of the table's rows yet (a backfill's) get a plain INSERT; when
    some are stored, rows the run no longer produces are deleted and the insert updates
    the others (ON CONFLICT), keeping their ids. The upsert's check of every row against
    the unique index costs 10-25% of the insert (measured), so it is paid only when needed; the
    transaction first takes an advisory lock per (portfolio, date), so two runs over the
    same dates take turns and the second sees the first's rows."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    pg: Any = raw.driver_connection  # the asyncpg connection of this transaction
    # SQLAlchemy's asyncpg adapter opens the transaction on its first statement; the raw
    # statements below must run inside it (all-or-nothing). The temporary tables live as
    # long as the connection and are emptied at each commit (and here: a transaction may
    # store twice), so a connection that stores many chunks creates them once.
    await connection.execute(select(1))
    assert pg.is_in_transaction()
    days = sorted(set(calc_dates))  # locked in date order: two runs cannot deadlock
    await pg.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || d::text, 0))"
        " FROM unnest($2::date[]) AS d",
        str(portfolio_id),
        days,
    )

    await _fill_figures(pg, _BETA_TEMP, "tmp_position_market_betas", BETA_RECORD, beta_rows)
    betas_stored = await pg.fetchval(
        "SELECT EXISTS (SELECT 1 FROM position_market_betas WHERE portfolio_id = $1"
        " AND calc_date = ANY($2::date[]) AND method = $3 AND window_days = $4)",
        portfolio_id,
        days,
        METHOD,
        beta_window,
    )
    if betas_stored:
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
    figures = ", ".join(_nulled(c) for c in BETA_FIGURES)
    beta_updates = ", ".join(
        f"{c} = excluded.{c}" for c in (*BETA_FIGURES, "observations", "market_index")
    )
    await pg.execute(
        "INSERT INTO position_market_betas (portfolio_id, position_id, calc_date,"  # noqa: S608 (identifiers are module constants)
        f" {', '.join(BETA_FIGURES)}, observations, window_days, method, market_index)"
        f" SELECT $1, position_id, calc_date, {figures}, observations, $2, $3, $4"
        " FROM tmp_position_market_betas"
        + (
            f" ON CONFLICT ON CONSTRAINT uq_position_market_betas_calc DO UPDATE SET {beta_updates}"
            if betas_stored
            else ""
        ),
        portfolio_id,
        beta_window,
        METHOD,
        MARKET_INDEX,
    )

    await _fill_figures(pg, _VOL_TEMP, "tmp_position_volatility", VOL_RECORD, vol_rows)
    vols_stored = await pg.fetchval(
        "SELECT EXISTS (SELECT 1 FROM position_volatility v JOIN positions p"
        " ON p.id = v.position_id WHERE p.portfolio_id = $1"
        " AND v.calculation_date = ANY($2::date[]))",
        portfolio_id,
        days,
    )
    if vols_stored:
        await pg.execute(
            "DELETE FROM position_volatility v USING positions p"
            " WHERE p.id = v.position_id AND p.portfolio_id = $1"
            " AND v.calculation_date = ANY($2::date[])"
            " AND NOT EXISTS (SELECT 1 FROM tmp_position_volatility t"
            " WHERE t.position_id = v.position_id AND t.calculation_date = v.calculation_date)",
            portfolio_id,
            days,
        )
    names = ", ".join(VOL_RECORD)
    # The trend travels as its index into TRENDS; -1 (no trend) indexes past the array: NULL.
    values = ", ".join(
        _nulled(c) if c in VOL_FIGURES else "($1::text[])[vol_trend + 1]" if c == "vol_trend" else c
        for c in VOL_RECORD
    )
    vol_updates = ", ".join(
        f"{c} = excluded.{c}" for c in VOL_RECORD if c not in ("position_id", "calculation_date")
    )
    await pg.execute(
        f"INSERT INTO position_volatility ({names}) SELECT {values}"  # noqa: S608 (identifiers are module constants)
        " FROM tmp_position_volatility"
        + (
            " ON CONFLICT ON CONSTRAINT uq_position_volatility_position_date"
            f" DO UPDATE SET {vol_updates}"
            if vols_stored
            else ""
        ),
        list(TRENDS),
    )

    snapshot_records = [
        tuple(_copy_value(r.get(c)) for c in _SNAPSHOT_COLUMNS) for r in snapshot_rows
    ]
    await _refill(
        pg,
        "CREATE TEMP TABLE IF NOT EXISTS tmp_portfolio_snapshots"
        " (LIKE portfolio_snapshots INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        "tmp_portfolio_snapshots",
    )
    if snapshot_records:
        await pg.copy_records_to_table(
            "tmp_portfolio_snapshots", records=snapshot_records, columns=list(_SNAPSHOT_COLUMNS)
        )
    cols = ", ".join(_SNAPSHOT_COLUMNS)
    risk_updates = ", ".join(f"{c} = excluded.{c}" for c in SNAPSHOT_RISK_COLUMNS)
    await pg.execute(
        f"INSERT INTO portfolio_snapshots ({cols}) SELECT {cols} FROM tmp_portfolio_snapshots"  # noqa: S608 (identifiers are module constants)
        " ON CONFLICT ON CONSTRAINT uq_portfolio_snapshots_portfolio_date"
        f" DO UPDATE SET {risk_updates}"
    )
