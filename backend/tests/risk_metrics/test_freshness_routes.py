"""Freshness over HTTP: GET /portfolios and /risk carry prices_as_of, /risk names the
positions left out and its beta coverage, /positions each position's price date and why
it was left out; another user still sees none of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.risk_metrics.calculation import calculate_portfolio_risk
from tests.risk_metrics.test_freshness import CALC, CALENDAR, RECENT_AGE, STALE_AGE, _stale_book
from tests.support.api import signed_in
from tests.support.factories import make_user

OLD_DAY = CALENDAR[-1 - STALE_AGE]


@dataclass(frozen=True)
class Seed:
    owner: uuid.UUID
    other: uuid.UUID
    portfolio: uuid.UUID
    positions: dict[str, uuid.UUID]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    owner = await make_user(seed_session, "fresh@example.com")
    other = await make_user(seed_session, "other@example.com")
    book = await _stale_book(seed_session, owner)
    portfolio = book["portfolio"]
    await calculate_portfolio_risk(seed_session, portfolio.id, CALC)  # type: ignore[attr-defined]
    await seed_session.commit()
    positions = {s: p.id for s, p in book["positions"].items()}  # type: ignore[attr-defined]
    return Seed(owner.id, other.id, portfolio.id, positions)  # type: ignore[attr-defined]


@pytest.fixture
def signed_in_as(seed: Seed) -> uuid.UUID:
    return seed.owner


async def test_the_list_and_risk_carry_the_last_spy_price_date_used(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    (listed,) = (await client.get("/api/v1/portfolios")).json()["items"]
    assert (listed["latest_snapshot_date"], listed["prices_as_of"]) == (str(CALC), str(CALC))
    risk = (await client.get(f"/api/v1/portfolios/{seed.portfolio}/risk")).json()
    assert risk["prices_as_of"] == str(CALC)


async def test_risk_names_the_positions_left_out_and_its_coverage_says_so(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    risk = (await client.get(f"/api/v1/portfolios/{seed.portfolio}/risk")).json()
    left_out = {e["symbol"]: e for e in risk["excluded_positions"]}
    assert set(left_out) == {"GHOST", "OLD"}
    assert left_out["OLD"]["position_id"] == str(seed.positions["OLD"])
    assert (left_out["OLD"]["reason"], left_out["OLD"]["last_price_date"]) == (
        "stale_price",
        str(OLD_DAY),
    )
    assert (left_out["GHOST"]["reason"], left_out["GHOST"]["last_price_date"]) == (
        "no_price",
        None,
    )
    assert left_out["GHOST"]["uncovered_exposure"] == "2000.00"  # 100 at its entry price
    assert 0 < float(risk["beta_coverage"]) < 1
    assert float(risk["top_10_concentration"]) < 1
    history = (await client.get(f"/api/v1/portfolios/{seed.portfolio}/risk/history")).json()
    assert [p["beta_coverage"] for p in history["points"]] == [risk["beta_coverage"]]


async def test_positions_carry_their_price_date_and_why_they_were_left_out(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    body = (await client.get(f"/api/v1/portfolios/{seed.portfolio}/positions")).json()
    items = {i["symbol"]: i for i in body["items"]}
    assert {s: i["price_date"] for s, i in items.items()} == {
        "AAA": str(CALC),
        "BBB": str(CALC),
        "GHOST": None,
        "NEW": str(CALENDAR[-1 - RECENT_AGE]),
        "OLD": str(OLD_DAY),
    }
    assert {s: i["excluded_reason"] for s, i in items.items()} == {
        "AAA": None,
        "BBB": None,
        "GHOST": "no_price",
        "NEW": None,
        "OLD": "stale_price",
    }
    assert items["OLD"]["excluded_detail"].startswith(f"last OLD price is of {OLD_DAY}")
    assert items["OLD"]["market_value"] is not None  # its last close, dated
    assert items["OLD"]["beta"] is None and items["OLD"]["realized_vol_21d"] is None
    # GHOST has no close to value it at; the weights count it, as the concentration does.
    assert items["GHOST"]["market_value"] is None
    assert sum(float(i["weight"]) for i in items.values() if i["weight"]) < 1


async def test_another_user_sees_none_of_it(app: FastAPI, seed: Seed) -> None:
    async with signed_in(app, seed.other) as other:
        assert (await other.get("/api/v1/portfolios")).json() == {"items": []}
        for path in ("risk", "positions", "risk/history"):
            response = await other.get(f"/api/v1/portfolios/{seed.portfolio}/{path}")
            assert response.status_code == 404, path
