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
from app.risk_metrics.rows import BETA_FIGURES, PG_EPOCH, VOL_FIGURES, FigureRows, uuid_array
from app.risk_metrics.store import store_portfolio_dates
from tests.support.factories import make_portfolio, make_position
from tests.support.heap import heap_and_key_order

pytestmark = pytest.mark.usefixtures("clean_tables")

DAY = date(2025, 10, 17)
DAYS = [DAY, date(2025, 10, 16)]  # computed out of order too


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


async def test_beta_and_volatility_rows_are_stored_in_their_unique_keys_order(
    session: AsyncSession,
) -> None:
    """Sent in (position, date) order whatever the order they were computed in."""
    portfolio = await make_portfolio(session)
    ids = [(await make_position(session, portfolio, f"S{n:03d}")).id for n in range(40)]
    portfolio_id = portfolio.id

    def rows(figures: int, trend: bool) -> FigureRows:
        n = len(ids) * len(DAYS)
        return FigureRows(
            position_id=np.tile(uuid_array(ids), len(DAYS)),  # date by date, as computed
            calc_date=np.repeat([(d - PG_EPOCH).days for d in DAYS], len(ids)).astype(np.int32),
            figures=np.full((n, figures), 0.5),
            trend=np.zeros(n, dtype=np.int16) if trend else np.empty(0, dtype=np.int16),
            observations=np.full(n, 90, dtype=np.int32),
        )

    await store_portfolio_dates(
        session,
        portfolio_id,
        DAYS,
        90,
        rows(len(BETA_FIGURES), trend=False),
        rows(len(VOL_FIGURES), trend=True),
        [],
    )
    for table, day in (
        ("position_market_betas", "calc_date"),
        ("position_volatility", "calculation_date"),
    ):
        heap, keyed = await heap_and_key_order(
            session,
            f"SELECT position_id, {day} FROM {table}",  # noqa: S608 (the test's constants)
            f"position_id, {day}",
        )
        assert len(heap) == len(ids) * len(DAYS)
        assert heap == keyed, table
