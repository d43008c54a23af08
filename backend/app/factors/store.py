"""Writes of the factor tables: a portfolio's rows of some dates replaced by a run's.

Called inside the risk engine's transaction for those dates (after
app.risk_metrics.store.store_portfolio_dates, which takes the per-(portfolio, date)
advisory lock), so a date's factor rows change together with its other figures. The rows
travel as PostgreSQL's binary COPY built column by column (app.factors.rows: float8 with
NaN for NULL, int16 codes for the factor, estimator and reason) into a temporary table,
then one INSERT ... SELECT decodes them; the server rounds each figure to its column's
scale. A figure its NUMERIC column cannot hold is stored NULL, its reason added to the
row's. Rows are sent in their table's key order, so the key's index grows at its right
edge instead of at a random leaf per position (cheaper, and a smaller index).

The rows are encoded (:func:`encode_factor_rows`: numpy only, no database; a range run
does it in its compute thread) before they are stored (:func:`store_encoded_factor_rows`).
Nothing here commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import binary_copy
from app.core.numeric_fit import fit_columns, overflow_reason
from app.factors.engine import compute_factor_dates
from app.factors.rows import (
    PORTFOLIO_FIGURES,
    POSITION_FIGURES,
    Columns,
    FactorRows,
)
from app.formulas.labels import ESTIMATORS
from app.models import PortfolioFactorExposure, PositionFactorExposure
from app.portfolios.repository import HeldPosition
from app.prices.repository import PriceHistory
from app.risk_metrics.rows import uuid_sort_keys

FactorModel = type[PositionFactorExposure] | type[PortfolioFactorExposure]

_KINDS = {"position_id": ("uuid", "V16"), "calculation_date": ("date", ">i4")}
_KINDS |= {c: ("smallint", ">i2") for c in ("factor", "estimator", "null_reason")}
_KINDS |= {c: ("integer", ">i4") for c in ("observations", "ridge_positions")}
_KINDS |= {c: ("float8", ">f8") for c in (*POSITION_FIGURES, *PORTFOLIO_FIGURES)}


def _decoded(column: str) -> str:
    """The SQL that turns a temporary table's column into the table's value ({name} are
    the run's parameters)."""
    kind = _KINDS[column][0]
    if column == "factor":
        return "({factor_codes}::text[])[factor + 1]"
    if column == "estimator":
        return "({estimators}::text[])[estimator + 1]"
    if column == "null_reason":
        return "({reasons}::text[])[null_reason + 1]"
    if kind == "float8":
        return f"NULLIF({column}, 'NaN')"
    if kind == "integer":
        return f"NULLIF({column}, -1)"
    return column


def _statements(model: FactorModel, columns: Sequence[str]) -> tuple[str, str]:
    """(create the temporary table, insert from it); the insert's parameters: portfolio id,
    window days, factor codes, estimators, reasons."""
    table = model.__tablename__
    temp = f"tmp_{table}"
    create = (
        f"CREATE TEMP TABLE IF NOT EXISTS {temp} ("
        + ", ".join(f"{c} {_KINDS[c][0]}" for c in columns)
        + ") ON COMMIT DELETE ROWS"
    )
    parameters = ("portfolio_id", "window_days", "factor_codes", "estimators", "reasons")
    values = ["$1", "$2", *(_decoded(c) for c in columns)]
    for n, name in enumerate(parameters, start=1):
        values = [v.replace(f"{{{name}}}", f"${n}") for v in values]
    insert = (
        f"INSERT INTO {table} (portfolio_id, window_days, {', '.join(columns)})"  # noqa: S608 (identifiers are module constants)
        f" SELECT {', '.join(values)} FROM {temp}"
    )
    return create, insert


def _fit_to_columns(model: FactorModel, columns: Columns, rows: FactorRows) -> Columns:
    """``columns`` with each figure its NUMERIC column cannot hold set to NaN (NULL), the
    reason added to the row's ``null_reason``."""
    figures = {c: v for c, v in columns.items() if _KINDS[c][0] == "float8"}
    fitted, overflowed = fit_columns(model, figures)
    out = dict(columns) | fitted
    reasons = out["null_reason"].copy()
    for name, over in overflowed.items():
        for n in np.flatnonzero(over).tolist():
            why = overflow_reason(model, name, float(figures[name][n]))
            before = rows.reasons[reasons[n]] if reasons[n] >= 0 else None
            reasons[n] = rows.reason(f"{before}; {why}" if before else why)
    out["null_reason"] = reasons
    return out


_KEY_ORDER = ("factor", "position_id", "calculation_date")
"""The key columns that vary within a run's rows, last sort key first (np.lexsort): a
table's key is (portfolio_id, calculation_date[, position_id], factor)."""


def _in_key_order(columns: Columns, rows: FactorRows) -> Columns:
    """``columns`` sorted as their table's key sorts them: by date, position id (a uuid
    compares as its 16 bytes) and factor code (as text)."""
    keys: list[NDArray[Any]] = []
    for name in _KEY_ORDER:
        if name == "factor":
            rank = np.argsort(np.argsort(np.array(rows.factor_codes)))
            keys.append(rank[columns[name]])
        elif name == "position_id" and name in columns:
            keys += uuid_sort_keys(columns[name])
        elif name in columns:
            keys.append(columns[name])
    order = np.lexsort(keys)
    return {name: values[order] for name, values in columns.items()}


@dataclass(frozen=True)
class EncodedTable:
    """One table's rows as a binary COPY into its temporary table."""

    model: FactorModel
    columns: list[str]
    buffer: memoryview


@dataclass(frozen=True)
class EncodedFactorRows:
    """A run's factor rows ready to store, and the lists their codes index."""

    tables: list[EncodedTable]
    factor_codes: list[str]
    reasons: list[str]


def encode_factor_rows(rows: FactorRows) -> EncodedFactorRows:
    """``rows`` as binary COPYs, each figure fitted to its column, in key order."""
    tables = []
    for model, columns in (
        (PositionFactorExposure, rows.positions()),
        (PortfolioFactorExposure, rows.portfolios()),
    ):
        if not columns or not len(columns["calculation_date"]):
            continue
        columns = _in_key_order(_fit_to_columns(model, columns, rows), rows)
        names = list(columns)
        buffer = binary_copy.encode([(c, columns[c], _KINDS[c][1]) for c in names])
        tables.append(EncodedTable(model, names, buffer))
    # After the fitting, which adds the reasons of figures too large for their column.
    return EncodedFactorRows(tables, list(rows.factor_codes), list(rows.reasons))


async def store_encoded_factor_rows(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    calc_dates: Sequence[date],
    window_days: int,
    encoded: EncodedFactorRows,
) -> None:
    """Replace the factor rows of ``portfolio_id`` on ``calc_dates`` with ``encoded``."""
    days = sorted(set(calc_dates))
    for model in (PositionFactorExposure, PortfolioFactorExposure):
        await session.execute(
            delete(model).where(
                model.portfolio_id == portfolio_id, model.calculation_date.in_(days)
            )
        )
    connection = await session.connection()
    await connection.execute(select(1))  # the transaction is open before the raw statements
    pg: Any = (await connection.get_raw_connection()).driver_connection
    for table in encoded.tables:
        create, insert = _statements(table.model, table.columns)
        temp = f"tmp_{table.model.__tablename__}"
        await pg.execute(create)
        await pg.execute(f"TRUNCATE {temp}")
        await pg.copy_to_table(temp, source=table.buffer, columns=table.columns, format="binary")
        await pg.execute(
            insert,
            portfolio_id,
            window_days,
            encoded.factor_codes,
            list(ESTIMATORS),
            encoded.reasons,
        )


async def store_factor_rows(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    calc_dates: Sequence[date],
    window_days: int,
    rows: FactorRows,
) -> None:
    """Replace the factor rows of ``portfolio_id`` on ``calc_dates`` with ``rows``."""
    encoded = encode_factor_rows(rows)
    await store_encoded_factor_rows(session, portfolio_id, calc_dates, window_days, encoded)


async def store_factor_dates(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    equity: float | None,
    calc_dates: Sequence[date],
    positions: Sequence[Sequence[HeldPosition]],
    history: PriceHistory,
    beta_window: int,
    *,
    history_days: int,
) -> None:
    """Compute (in a thread: numpy) and store the factor rows of ``calc_dates``."""
    rows = await asyncio.to_thread(
        compute_factor_dates,
        equity,
        calc_dates,
        positions,
        history,
        beta_window,
        history_days=history_days,
    )
    await store_factor_rows(session, portfolio_id, calc_dates, beta_window, rows)


async def delete_factor_figures(
    session: AsyncSession, start: date, end: date, portfolio_ids: list[uuid.UUID] | None = None
) -> int:
    """Remove the factor rows of [start, end] (of ``portfolio_ids`` only, if given): the
    number of portfolio rows removed."""
    removed = 0
    for model in (PositionFactorExposure, PortfolioFactorExposure):
        statement = delete(model).where(model.calculation_date.between(start, end))
        if portfolio_ids is not None:
            statement = statement.where(model.portfolio_id.in_(portfolio_ids))
        result = await session.execute(statement)
        if model is PortfolioFactorExposure:
            removed = int(result.rowcount)  # type: ignore[attr-defined]
    return removed
