"""GET /api/v1/portfolios/{id}/factors: figures the engine stored, owner-scoped."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import numpy as np
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.factors.definitions import default_factors
from app.factors.synthetic import etf_returns
from app.models import DailyPrice
from app.prices.demo import demo_calendar
from app.risk_metrics.calculation import calculate_portfolio_risk
from perf.factor_recovery import factor_returns
from tests.support.api import signed_in
from tests.support.factories import (
    make_portfolio,
    make_position,
    make_user,
    price_rows_from_returns,
)

END = date(2025, 10, 17)
CALENDAR = demo_calendar(END, 150)


@dataclass
class Seed:
    owner: uuid.UUID
    stranger: uuid.UUID
    portfolio: uuid.UUID
    bare: uuid.UUID
    positions: dict[str, uuid.UUID]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    rng = np.random.default_rng(9)
    f = factor_returns(rng, len(CALENDAR) - 1, default_factors())
    returns = etf_returns(rng, f, default_factors())
    returns["ABC"] = 1.2 * f[:, 0] - 0.5 * f[:, 2] + rng.normal(0, 0.01, len(CALENDAR) - 1)
    del returns["TLT"]  # the Rates factor has no prices
    rows = price_rows_from_returns(returns, CALENDAR)
    await db.execute(pg_insert(DailyPrice), rows)
    owner = await make_user(db, "factors@example.com")
    stranger = await make_user(db, "stranger@example.com")
    book = await make_portfolio(db, "Factors", owner=owner, equity_balance=Decimal(100_000))
    bare = await make_portfolio(db, "Never computed", owner=owner)
    held = {
        s: (await make_position(db, book, s, "100", entry_date=CALENDAR[0])).id
        for s in ("ABC", "IWM", "SPY")
    }
    await db.commit()
    await calculate_portfolio_risk(db, book.id, CALENDAR[-2])
    await calculate_portfolio_risk(db, book.id, END)
    await db.commit()
    return Seed(owner.id, stranger.id, book.id, bare.id, held)


async def _get(app: FastAPI, user: uuid.UUID, path: str, **params: str) -> httpx.Response:
    async with signed_in(app, user) as client:
        return await client.get(path, params=params)


async def test_the_latest_date_with_portfolio_and_position_exposures(
    app: FastAPI, seed: Seed
) -> None:
    response = await _get(app, seed.owner, f"/api/v1/portfolios/{seed.portfolio}/factors")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["calculation_date"] == END.isoformat()
    assert body["window_days"] == 90
    assert [f["code"] for f in body["factors"]] == list(default_factors().codes)
    assert body["factors"][2] == {"code": "VALUE", "name": "Value", "definition": "IWD - IWF"}

    positions = {p["symbol"]: p for p in body["positions"]}
    assert set(positions) == {"ABC", "IWM", "SPY"}
    iwm = {x["factor"]: x for x in positions["IWM"]["loadings"]}
    assert Decimal(iwm["MARKET"]["exposure"]) == Decimal("1.000000")
    assert Decimal(iwm["SIZE"]["exposure"]) == Decimal("1.000000")
    assert Decimal(iwm["VALUE"]["exposure"]) == 0
    assert iwm["SIZE"]["std_error"] == "0.000000" and iwm["SIZE"]["t_stat"] is None
    assert iwm["RATES"] == {
        "factor": "RATES",
        "exposure": None,
        "std_error": None,
        "t_stat": None,
        "null_reason": "TLT: daily returns in the 90-day window (TLT 0), fewer than 72",
    }
    abc = positions["ABC"]
    assert abc["estimator"] == "OLS" and abc["guarded"] is False
    assert abc["observations"] == 90
    assert 0 < Decimal(abc["r_squared"]) < 1 and Decimal(abc["specific_volatility"]) > 0
    abc_market = next(x for x in abc["loadings"] if x["factor"] == "MARKET")
    assert abs(Decimal(abc_market["exposure"]) - Decimal("1.2")) < 4 * Decimal(
        abc_market["std_error"]
    )
    assert Decimal(abc_market["t_stat"]) > 10

    portfolio = body["portfolio"]
    assert 0 < Decimal(portfolio["r_squared"]) <= 1
    assert portfolio["ridge_positions"] == 0
    exposures = {x["factor"]: x for x in portfolio["exposures"]}
    assert Decimal(exposures["MARKET"]["coverage"]) == 1
    assert exposures["RATES"]["exposure"] is None
    assert exposures["RATES"]["null_reason"].startswith("TLT:")


async def test_a_date_reads_the_latest_computed_on_or_before_it(app: FastAPI, seed: Seed) -> None:
    path = f"/api/v1/portfolios/{seed.portfolio}/factors"
    earlier = await _get(app, seed.owner, path, date=(END.replace(day=16)).isoformat())
    assert earlier.json()["calculation_date"] == CALENDAR[-2].isoformat()
    before = await _get(app, seed.owner, path, date=CALENDAR[0].isoformat())
    assert before.status_code == 404
    assert "no factor exposures on or before" in before.json()["detail"]


@pytest.mark.parametrize("who", ["stranger", "owner"])
async def test_another_users_or_a_missing_portfolio_is_404(
    app: FastAPI, seed: Seed, who: str
) -> None:
    if who == "stranger":
        response = await _get(app, seed.stranger, f"/api/v1/portfolios/{seed.portfolio}/factors")
    else:
        response = await _get(app, seed.owner, f"/api/v1/portfolios/{uuid.uuid4()}/factors")
    assert response.status_code == 404
    assert "unknown portfolio" in response.json()["detail"]


async def test_a_portfolio_never_computed_says_how_to_compute(app: FastAPI, seed: Seed) -> None:
    response = await _get(app, seed.owner, f"/api/v1/portfolios/{seed.bare}/factors")
    assert response.status_code == 404
    assert "scripts/calculate_risk_metrics.py" in response.json()["detail"]


async def test_signed_out_is_401(app: FastAPI, seed: Seed) -> None:
    from tests.support.api import api_client

    async with api_client(app) as client:
        response = await client.get(f"/api/v1/portfolios/{seed.portfolio}/factors")
    assert response.status_code == 401
