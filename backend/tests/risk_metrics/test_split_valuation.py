"""A position's value across a split, read through the API (GET /positions) and through
the engine (the snapshot it stores): the same value, the close as traded times the shares
held that day, for a position held through the split and for ones closed before it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PortfolioSnapshot
from app.risk_metrics.calculation import calculate_portfolio_risk
from tests.risk_metrics.test_freshness import CALENDAR, SPLIT_DAY, _split_stock
from tests.support.factories import make_portfolio, make_position, make_user

CLOSED_ON = CALENDAR[-45]
"""The exit date of the closed positions: five trading days before the 4:1 split."""
WHILE_BOTH_HELD = CALENDAR[-46]
"""Their last held day."""
AFTER_SPLIT = CALENDAR[-10]
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Seed:
    owner: uuid.UUID
    portfolio: uuid.UUID
    held: uuid.UUID
    sold: uuid.UUID
    covered: uuid.UUID
    close_on: dict[date, float]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    traded = await _split_stock(seed_session)
    owner = await make_user(seed_session, "splits@example.com")
    portfolio = await make_portfolio(seed_session, "Across a split", owner=owner)
    # 400 shares today: 100 before the split.
    held = await make_position(seed_session, portfolio, "SPLT", "400", entry_date=CALENDAR[0])
    # Closed before the split: their quantities are those of their last held day.
    sold = await make_position(
        seed_session, portfolio, "SPLT", "100", entry_date=CALENDAR[0], exit_date=CLOSED_ON
    )
    covered = await make_position(
        seed_session,
        portfolio,
        "SPLT",
        "30",
        "SHORT",
        entry_date=CALENDAR[0],
        exit_date=CLOSED_ON,
    )
    for day in (WHILE_BOTH_HELD, AFTER_SPLIT):
        await calculate_portfolio_risk(seed_session, portfolio.id, day)
    await seed_session.commit()
    close_on = dict(zip(CALENDAR, traded.tolist(), strict=True))
    return Seed(owner.id, portfolio.id, held.id, sold.id, covered.id, close_on)


@pytest.fixture
def signed_in_as(seed: Seed) -> uuid.UUID:
    return seed.owner


async def _api_values(client: httpx.AsyncClient, seed: Seed, day: date) -> dict[str, Decimal]:
    response = await client.get(f"/api/v1/portfolios/{seed.portfolio}/positions?date={day}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] == str(day)
    return {item["id"]: Decimal(item["market_value"]) for item in body["items"]}


async def _engine_values(session: AsyncSession, seed: Seed, day: date) -> tuple[Decimal, ...]:
    snap = await session.scalar(
        select(PortfolioSnapshot).where(
            PortfolioSnapshot.portfolio_id == seed.portfolio,
            PortfolioSnapshot.calculation_date == day,
        )
    )
    assert snap is not None
    return (snap.long_value, snap.short_value, snap.gross_exposure, snap.net_exposure)  # type: ignore[return-value]


async def test_before_the_split_every_position_counts_the_shares_it_held_then(
    client: httpx.AsyncClient, seed: Seed, seed_session: AsyncSession
) -> None:
    assert WHILE_BOTH_HELD < CLOSED_ON < SPLIT_DAY
    close = seed.close_on[WHILE_BOTH_HELD]
    expected = {
        str(seed.held): 100 * close,  # a quarter of today's 400
        str(seed.sold): 100 * close,  # as stored: the split came after its last held day
        str(seed.covered): -30 * close,
    }
    api = await _api_values(client, seed, WHILE_BOTH_HELD)
    assert api.keys() == expected.keys()
    for pid, value in expected.items():
        assert float(api[pid]) == pytest.approx(value, abs=0.01), pid

    long_value, short_value, gross, net = await _engine_values(seed_session, seed, WHILE_BOTH_HELD)
    # The engine sums before it rounds to cents, the API rounds each position.
    assert long_value == pytest.approx(api[str(seed.held)] + api[str(seed.sold)], abs=CENT * 2)
    assert short_value == pytest.approx(api[str(seed.covered)], abs=CENT)
    assert gross == pytest.approx(sum(abs(v) for v in api.values()), abs=CENT * 3)
    assert net == pytest.approx(sum(api.values()), abs=CENT * 3)


async def test_after_the_split_the_position_still_held_counts_todays_shares(
    client: httpx.AsyncClient, seed: Seed, seed_session: AsyncSession
) -> None:
    api = await _api_values(client, seed, AFTER_SPLIT)
    assert list(api) == [str(seed.held)]
    assert float(api[str(seed.held)]) == pytest.approx(400 * seed.close_on[AFTER_SPLIT], abs=0.01)
    long_value, short_value, gross, net = await _engine_values(seed_session, seed, AFTER_SPLIT)
    assert (long_value, gross, net) == (api[str(seed.held)],) * 3
    assert short_value == 0
