"""Writes of the risk tables (store_portfolio_dates) seen from two connections at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Portfolio, Position
from app.risk_metrics.rows import PG_EPOCH, VOL_FIGURES, FigureRows, uuid_array
from app.risk_metrics.store import store_portfolio_dates

pytestmark = pytest.mark.usefixtures("clean_tables")

DAY = date(2025, 10, 17)


def _beta_rows(position_id: uuid.UUID, beta: float) -> FigureRows:
    return FigureRows(
        position_id=uuid_array([position_id]),
        calc_date=np.array([(DAY - PG_EPOCH).days], dtype=np.int32),
        figures=np.array([[beta, 0.0, 0.5, 0.1, np.nan]]),
        trend=np.empty(0, dtype=np.int16),
        observations=np.array([90], dtype=np.int32),
    )


async def test_a_second_store_of_the_same_date_waits_for_the_first_then_updates_its_row(
    engine: AsyncEngine,
) -> None:
    portfolio_id, position_id = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(pg_insert(Portfolio).values(id=portfolio_id, name="Two writers"))
        await conn.execute(
            pg_insert(Position).values(
                id=position_id,
                portfolio_id=portfolio_id,
                symbol="AAA",
                quantity=10,
                entry_price=1,
                entry_date=date(2025, 1, 2),
            )
        )
    no_vols = FigureRows.concat([], len(VOL_FIGURES))

    async def store(beta: float) -> None:
        async with AsyncSession(engine) as session, session.begin():
            await store_portfolio_dates(
                session, portfolio_id, [DAY], 90, _beta_rows(position_id, beta), no_vols, []
            )

    async with AsyncSession(engine) as first, first.begin():
        await store_portfolio_dates(
            first, portfolio_id, [DAY], 90, _beta_rows(position_id, 1.0), no_vols, []
        )
        # The date is new to both: without the date's lock the second would insert too
        # and fail on the unique key once the first commits.
        second = asyncio.create_task(store(2.0))
        await asyncio.sleep(0.5)
    await second

    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT beta, p_value FROM position_market_betas WHERE position_id = :p"),
                {"p": position_id},
            )
        ).all()
    assert [(float(beta), p_value) for beta, p_value in stored] == [(2.0, None)]
