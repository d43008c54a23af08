"""Writes of the factor tables: a portfolio's rows of some dates replaced by a run's.

Called inside the risk engine's transaction for those dates (after
app.risk_metrics.store.store_portfolio_dates, which takes the per-(portfolio, date)
advisory lock), so a date's factor rows change together with its other figures. A figure
that its NUMERIC column cannot hold is stored NULL with the reason. Nothing here commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.numeric_fit import fit_columns, numeric_columns, overflow_reason
from app.core.repository import table_of
from app.factors.engine import (
    PORTFOLIO_RECORD,
    POSITION_RECORD,
    FactorRows,
    compute_factor_dates,
)
from app.models import PortfolioFactorExposure, PositionFactorExposure
from app.portfolios.repository import HeldPosition
from app.prices.repository import PriceHistory

FactorModel = type[PositionFactorExposure] | type[PortfolioFactorExposure]

_TABLES: tuple[tuple[FactorModel, tuple[str, ...]], ...] = (
    (PositionFactorExposure, POSITION_RECORD),
    (PortfolioFactorExposure, PORTFOLIO_RECORD),
)


def _fitted(
    model: FactorModel,
    record: tuple[str, ...],
    rows: list[tuple[object, ...]],
) -> list[tuple[Any, ...]]:
    """``rows`` ready to COPY: NaN as NULL, a figure its column cannot hold NULL too, with
    the reason added to ``null_reason``."""
    numeric = [c for c in record if c in numeric_columns(table_of(model))]
    index = {c: record.index(c) for c in record}
    values = {c: np.array([r[index[c]] for r in rows], dtype=np.float64) for c in numeric}
    fitted, overflowed = fit_columns(model, values)
    reason_at = index["null_reason"]
    out: list[tuple[Any, ...]] = []
    for n, row in enumerate(rows):
        fields = list(row)
        extra = [overflow_reason(model, c, values[c][n]) for c in numeric if overflowed[c][n]]
        for c in numeric:
            v = fitted[c][n]
            fields[index[c]] = None if np.isnan(v) else Decimal(repr(float(v)))
        if extra:
            fields[reason_at] = "; ".join(
                [*([str(row[reason_at])] if row[reason_at] else []), *extra]
            )
        out.append(tuple(fields))
    return out


async def store_factor_rows(
    session: AsyncSession, portfolio_id: uuid.UUID, calc_dates: Sequence[date], rows: FactorRows
) -> None:
    """Replace the factor rows of ``portfolio_id`` on ``calc_dates`` with ``rows``."""
    days = sorted(set(calc_dates))
    for model, _ in _TABLES:
        await session.execute(
            delete(model).where(
                model.portfolio_id == portfolio_id, model.calculation_date.in_(days)
            )
        )
    connection = await session.connection()
    pg: Any = (await connection.get_raw_connection()).driver_connection
    for (model, record), table_rows in zip(_TABLES, (rows.positions, rows.portfolios), strict=True):
        if table_rows:
            await pg.copy_records_to_table(
                model.__tablename__,
                records=_fitted(model, record, table_rows),
                columns=list(record),
            )


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
        portfolio_id,
        equity,
        calc_dates,
        positions,
        history,
        beta_window,
        history_days=history_days,
    )
    await store_factor_rows(session, portfolio_id, calc_dates, rows)


async def delete_factor_figures(
    session: AsyncSession, start: date, end: date, portfolio_ids: list[uuid.UUID] | None = None
) -> int:
    """Remove the factor rows of [start, end] (of ``portfolio_ids`` only, if given): the
    number of portfolio rows removed."""
    removed = 0
    for model, _ in _TABLES:
        statement = delete(model).where(model.calculation_date.between(start, end))
        if portfolio_ids is not None:
            statement = statement.where(model.portfolio_id.in_(portfolio_ids))
        result = await session.execute(statement)
        if model is PortfolioFactorExposure:
            removed = int(result.rowcount)  # type: ignore[attr-defined]
    return removed
