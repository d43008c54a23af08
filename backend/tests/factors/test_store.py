"""Writes of the factor tables (app.factors.store)."""

from __future__ import annotations

import uuid
from datetime import date

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.factors.rows import FactorRows, position_block
from app.factors.store import store_factor_rows
from tests.support.factories import make_portfolio, make_position
from tests.support.heap import heap_and_key_order

pytestmark = pytest.mark.usefixtures("clean_tables")

DAYS = [date(2025, 10, 17), date(2025, 10, 16)]  # computed out of order too
FACTORS = ("MARKET", "SIZE", "LOW_VOL")  # not in text order either


async def _book(session: AsyncSession, positions: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    portfolio = await make_portfolio(session)
    held = [await make_position(session, portfolio, f"S{n:03d}") for n in range(positions)]
    return portfolio.id, [p.id for p in held]


async def test_factor_rows_are_stored_in_their_keys_order(session: AsyncSession) -> None:
    """Sent in the key's order (PostgreSQL's order of dates, uuids and codes), whatever the
    order they were computed in, so the key's index grows at its right edge; a re-store
    replaces them."""
    portfolio_id, ids = await _book(session, 40)
    rows = FactorRows(FACTORS)
    for day in DAYS:
        rows.position_blocks.append(
            position_block(rows, day, ids, ["no prices"] * len(ids), np.ones(3, bool), [None] * 3)
        )
    for _ in range(2):  # the second store replaces the first's rows
        await store_factor_rows(session, portfolio_id, DAYS, 90, rows)
    heap, keyed = await heap_and_key_order(
        session,
        "SELECT calculation_date, position_id, factor FROM position_factor_exposures",
        'calculation_date, position_id, factor COLLATE "C"',
    )
    assert len(heap) == len(ids) * len(DAYS) * len(FACTORS)
    assert heap != sorted(heap, key=lambda r: (r[0], ids.index(r[1]), FACTORS.index(r[2])))
    assert heap == keyed
