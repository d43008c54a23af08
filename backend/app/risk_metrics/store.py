"""Writes of the risk tables: position betas, position volatility and snapshots.

A portfolio's figures of many dates are stored at once (:func:`store_portfolio_dates`):
each table's rows COPYed into a temporary table, then one set-based insert per table, so
the dates' stored rows are exactly these, as a re-run of each date would leave them. The
two position tables go through the same steps, each table described once as data
(:class:`FigureTable`). :func:`delete_risk_figures` removes the figures of a date range.
Nothing here commits.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Table, UniqueConstraint, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import binary_copy
from app.formulas.labels import TRENDS
from app.models import PortfolioSnapshot, PositionMarketBeta, PositionVolatility
from app.models.snapshot import SNAPSHOT_RISK_COLUMNS
from app.portfolios.repository import positions
from app.prices.repository import MARKET_INDEX
from app.risk_metrics.rows import (
    BETA_FIGURES,
    BETA_RECORD,
    METHOD,
    VOL_FIGURES,
    VOL_RECORD,
    FigureRows,
    uuid_sort_keys,
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
# into SQL below comes from this module's constants (the table descriptions and the
# models); every value is a parameter ({name} in the SQL, $n when sent) or COPY data.

_PARAMETER = re.compile(r"\{(\w+)\}")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with each ``{name}`` as ``$n`` (one number per name), and the names in
    number order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return _PARAMETER.sub(number, sql), tuple(names)


@dataclass(frozen=True)
class _Statement:
    sql: str
    parameters: tuple[str, ...]

    @classmethod
    def of(cls, sql: str) -> _Statement:
        return cls(*_numbered(sql))

    def arguments(self, run: Mapping[str, Any]) -> list[Any]:
        return [run[name] for name in self.parameters]


@dataclass(frozen=True)
class FigureTable:
    """How one position table's figures are stored: every name here is spliced into SQL."""

    model: type[PositionMarketBeta] | type[PositionVolatility]
    temp: str
    """The temporary table the rows are COPYed into (kept by the connection, emptied at
    each commit)."""
    record: tuple[str, ...]
    """The columns of a COPY record, in app.risk_metrics.rows' FigureRows order: the
    position id, the date, the figures, the coded columns, the observations."""
    figures: tuple[str, ...]
    """float8 in the temporary table (NaN for NULL), NUMERIC in the table."""
    coded: Mapping[str, str]
    """Columns sent as a smallint code, and the SQL that decodes one (``{code}`` is the
    column; other ``{name}`` are parameters of the run)."""
    run_columns: tuple[str, ...]
    """Columns whose value is the run's, the same in every row: parameters of the run."""
    scope_from: str
    scope: str
    """With ``scope_from``: this portfolio's rows (alias ``r``) that the run replaces,
    besides their date being one of the run's."""
    constraint: str
    """The unique constraint a stored row conflicts on: its columns are the row's key."""

    @cached_property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    @property
    def date_column(self) -> str:
        return self.record[1]

    @cached_property
    def create_temp(self) -> str:
        types = {"position_id": "uuid", self.date_column: "date", "observations": "integer"}
        types |= dict.fromkeys(self.figures, "float8") | dict.fromkeys(self.coded, "smallint")
        columns = ", ".join(f"{c} {types[c]}" for c in self.record)
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.temp} ({columns},"
            f" PRIMARY KEY (position_id, {self.date_column})) ON COMMIT DELETE ROWS"
        )

    @cached_property
    def _in_scope(self) -> str:
        return f" WHERE {self.scope} AND r.{self.date_column} = ANY({{dates}}::date[])"

    @cached_property
    def stored(self) -> _Statement:
        """Whether the table holds any row in the run's scope."""
        also = f", {self.scope_from}" if self.scope_from else ""
        return _Statement.of(
            f"SELECT EXISTS (SELECT 1 FROM {self.table.name} r{also}{self._in_scope})"  # noqa: S608 (identifiers are module constants)
        )

    @cached_property
    def delete_stale(self) -> _Statement:
        """Delete the rows in the run's scope that the run no longer produces."""
        using = f" USING {self.scope_from}" if self.scope_from else ""
        return _Statement.of(
            f"DELETE FROM {self.table.name} r{using}{self._in_scope}"  # noqa: S608 (identifiers are module constants)
            f" AND NOT EXISTS (SELECT 1 FROM {self.temp} t WHERE t.position_id = r.position_id"
            f" AND t.{self.date_column} = r.{self.date_column})"
        )

    def insert(self, upsert: bool) -> _Statement:
        """Insert the temporary table's rows; with ``upsert``, update the rows whose key is
        stored already (keeping their ids)."""
        return self._upsert if upsert else self._insert

    def _insert_sql(self) -> str:
        values = [f"{{{c}}}" for c in self.run_columns]
        for c in self.record:
            if c in self.figures:
                values.append(f"NULLIF({c}, 'NaN')")
            elif c in self.coded:
                values.append(self.coded[c].replace("{code}", c))
            else:
                values.append(c)
        columns = ", ".join((*self.run_columns, *self.record))
        return (
            f"INSERT INTO {self.table.name} ({columns})"  # noqa: S608 (identifiers are module constants)
            f" SELECT {', '.join(values)} FROM {self.temp}"
        )

    @cached_property
    def _insert(self) -> _Statement:
        return _Statement.of(self._insert_sql())

    @cached_property
    def _upsert(self) -> _Statement:
        (unique,) = (
            c
            for c in self.table.constraints
            if isinstance(c, UniqueConstraint) and c.name == self.constraint
        )
        key = {column.name for column in unique.columns}
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in (*self.run_columns, *self.record) if c not in key
        )
        return _Statement.of(
            f"{self._insert_sql()} ON CONFLICT ON CONSTRAINT {self.constraint}"
            f" DO UPDATE SET {updates}"
        )


BETAS = FigureTable(
    model=PositionMarketBeta,
    temp="tmp_position_market_betas",
    record=BETA_RECORD,
    figures=BETA_FIGURES,
    coded={},
    run_columns=("portfolio_id", "window_days", "method", "market_index"),
    # Rows of another method or window are another run's.
    scope_from="",
    scope="r.portfolio_id = {portfolio_id} AND r.method = {method}"
    " AND r.window_days = {window_days}",
    constraint="uq_position_market_betas_calc",
)

VOLATILITY = FigureTable(
    model=PositionVolatility,
    temp="tmp_position_volatility",
    record=VOL_RECORD,
    figures=VOL_FIGURES,
    # The trend travels as its index into TRENDS; -1 (no trend) indexes past the array: NULL.
    coded={"vol_trend": "({trend_labels}::text[])[{code} + 1]"},
    run_columns=(),
    # The table has no portfolio column: its rows are the portfolio's positions' (every
    # position, deleted too: a re-run leaves exactly what one run leaves).
    scope_from="positions p",
    scope="p.id = r.position_id AND p.portfolio_id = {portfolio_id}",
    constraint="uq_position_volatility_position_date",
)

FIGURE_TABLES = (BETAS, VOLATILITY)


_SNAPSHOT_KEY = ("portfolio_id", "calculation_date")
_SNAPSHOT_VALUATION = (
    "gross_exposure",
    "net_exposure",
    "long_value",
    "short_value",
    "num_positions",
)
_SNAPSHOT_COLUMNS = (*_SNAPSHOT_KEY, *_SNAPSHOT_VALUATION, *SNAPSHOT_RISK_COLUMNS)
_SNAPSHOT_TEMP = "tmp_portfolio_snapshots"


def _copy_buffer(rows: FigureRows) -> memoryview:
    """``rows`` as a binary COPY into a :class:`FigureTable`'s temporary table (uuid, date,
    float8 figures, [smallint codes,] integer observations): every field has a fixed size
    (a NULL figure is NaN until the INSERT). In (position, date) order, the order of the
    tables' unique keys, so each position's entries go into their indexes side by side
    rather than one at a random leaf per row."""
    keys: list[NDArray[Any]] = [rows.calc_date, *uuid_sort_keys(rows.position_id)]
    order = np.lexsort(keys)
    rows = FigureRows(
        rows.position_id[order],
        rows.calc_date[order],
        rows.figures[order],
        rows.trend[order] if rows.trend.size else rows.trend,
        rows.observations[order],
    )
    return binary_copy.encode(
        [
            ("id", rows.position_id, "V16"),
            ("day", rows.calc_date, ">i4"),
            *((f"f{i}", rows.figures[:, i], ">f8") for i in range(rows.figures.shape[1])),
            *([("trend", rows.trend, ">i2")] if rows.trend.size else []),  # volatility rows
            ("obs", rows.observations, ">i4"),
        ]
    )


def _copy_value(value: Any) -> Any:
    # Floats go as their shortest repr, the text a bound parameter sends; JSONB as JSON text.
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


async def _refill(pg: Any, create: str, temp: str) -> None:
    await pg.execute(create)
    await pg.execute(f"TRUNCATE {temp}")


async def _store_figures(
    pg: Any, table: FigureTable, rows: FigureRows, run: Mapping[str, Any]
) -> None:
    """The run's rows of one position table: COPYed into its temporary table, the stored
    rows they no longer include deleted, then one set-based insert.

    Dates that hold none of the table's rows yet (a backfill's) get a plain INSERT; when
    some are stored, the insert updates them (ON CONFLICT), keeping their ids. The upsert's
    check of every row against the unique index costs a share of the insert, so it is paid
    only when needed."""
    await _refill(pg, table.create_temp, table.temp)
    if len(rows):
        await pg.copy_to_table(
            table.temp,
            source=_copy_buffer(rows),
            columns=list(table.record),
            format="binary",
        )
    stored = await pg.fetchval(table.stored.sql, *table.stored.arguments(run))
    if stored:
        await pg.execute(table.delete_stale.sql, *table.delete_stale.arguments(run))
    insert = table.insert(upsert=stored)
    await pg.execute(insert.sql, *insert.arguments(run))


async def _store_snapshots(pg: Any, snapshot_rows: list[dict[str, Any]]) -> None:
    """Upsert the snapshots: valuation columns only when the row is created, risk columns
    always."""
    records = [tuple(_copy_value(r.get(c)) for c in _SNAPSHOT_COLUMNS) for r in snapshot_rows]
    await _refill(
        pg,
        f"CREATE TEMP TABLE IF NOT EXISTS {_SNAPSHOT_TEMP}"
        " (LIKE portfolio_snapshots INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        _SNAPSHOT_TEMP,
    )
    if records:
        await pg.copy_records_to_table(
            _SNAPSHOT_TEMP, records=records, columns=list(_SNAPSHOT_COLUMNS)
        )
    cols = ", ".join(_SNAPSHOT_COLUMNS)
    risk_updates = ", ".join(f"{c} = excluded.{c}" for c in SNAPSHOT_RISK_COLUMNS)
    await pg.execute(
        f"INSERT INTO portfolio_snapshots ({cols}) SELECT {cols} FROM {_SNAPSHOT_TEMP}"  # noqa: S608 (identifiers are module constants)
        " ON CONFLICT ON CONSTRAINT uq_portfolio_snapshots_portfolio_date"
        f" DO UPDATE SET {risk_updates}"
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
    """Store the figures of one portfolio on ``calc_dates``, so the dates' stored rows are
    exactly these (as a re-run of each date would leave them). ``beta_rows`` /
    ``vol_rows`` hold rows.BETA_RECORD / rows.VOL_RECORD columns. Runs in the caller's
    transaction (a chunk of whole dates), which first takes an advisory lock per
    (portfolio, date), so two runs over the same dates take turns and the second sees the
    first's rows."""
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
    run = {
        "portfolio_id": portfolio_id,
        "dates": days,
        "window_days": beta_window,
        "method": METHOD,
        "market_index": MARKET_INDEX,
        "trend_labels": list(TRENDS),
    }
    for table, rows in zip(FIGURE_TABLES, (beta_rows, vol_rows), strict=True):
        await _store_figures(pg, table, rows, run)
    await _store_snapshots(pg, snapshot_rows)
