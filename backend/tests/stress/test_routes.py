"""GET /api/v1/portfolios/{id}/stress: scenario P&L from the factor exposures the engine
stored, and full revaluation for a historical replay the prices cover (Feb-Mar 2020
here: the synthetic prices run from late 2019 to mid 2020, without TLT)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

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
from app.portfolios.repository import portfolios
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

END = date(2020, 6, 30)
CALENDAR = demo_calendar(END, 140)
EQUITY = Decimal(200_000)


@dataclass
class Seed:
    owner: uuid.UUID
    stranger: uuid.UUID
    exact: uuid.UUID
    mixed: uuid.UUID
    gone: uuid.UUID
    """Deleted after its figures were computed."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    rng = np.random.default_rng(31)
    f = factor_returns(rng, len(CALENDAR) - 1, default_factors())
    returns = etf_returns(rng, f, default_factors())
    returns["ABC"] = 0.8 * f[:, 0] + 0.6 * f[:, 3] + rng.normal(0, 0.01, len(CALENDAR) - 1)
    del returns["TLT"]
    rows = price_rows_from_returns(returns, CALENDAR)
    await db.execute(pg_insert(DailyPrice), rows)
    owner = await make_user(db, "stress@example.com")
    stranger = await make_user(db, "stranger@example.com")
    exact = await make_portfolio(db, "ETFs", owner=owner, equity_balance=EQUITY)
    mixed = await make_portfolio(db, "Mixed", owner=owner, equity_balance=EQUITY)
    for symbol, kind in (("SPY", "LONG"), ("IWM", "SHORT")):
        await make_position(db, exact, symbol, "300", kind, entry_date=CALENDAR[0])
    gone = await make_portfolio(db, "Gone", owner=owner, equity_balance=EQUITY)
    for symbol in ("ABC", "SPY"):
        await make_position(db, mixed, symbol, "500", entry_date=CALENDAR[0])
        await make_position(db, gone, symbol, "500", entry_date=CALENDAR[0])
    await db.commit()
    for portfolio in (exact, mixed, gone):
        await calculate_portfolio_risk(db, portfolio.id, END)
    await db.execute(portfolios.soft_delete(portfolios.c.id == gone.id))
    await db.commit()
    return Seed(owner.id, stranger.id, exact.id, mixed.id, gone.id)


async def _get(app: FastAPI, user: uuid.UUID, path: str) -> httpx.Response:
    async with signed_in(app, user) as client:
        return await client.get(path)


async def _both(
    app: FastAPI, seed: Seed, portfolio: uuid.UUID
) -> tuple[dict[str, Any], dict[str, Any]]:
    stress = await _get(app, seed.owner, f"/api/v1/portfolios/{portfolio}/stress")
    assert stress.status_code == 200, stress.text
    factors = await _get(app, seed.owner, f"/api/v1/portfolios/{portfolio}/factors")
    return stress.json(), factors.json()


async def test_hypothetical_shocks_are_exposure_times_move_times_equity(
    app: FastAPI, seed: Seed
) -> None:
    stress, factors = await _both(app, seed, seed.mixed)
    assert stress["calculation_date"] == END.isoformat()
    assert stress["denominator"] == "200000.00" and stress["denominator_is_equity"] is True
    exposure = {
        e["factor"]: Decimal(e["exposure"] or "NaN") for e in factors["portfolio"]["exposures"]
    }
    by_code = {s["code"]: s for s in stress["scenarios"]}
    for code, move in (
        ("MARKET_DOWN_10", -0.10),
        ("MARKET_DOWN_20", -0.20),
        ("MARKET_DOWN_35", -0.35),
    ):
        expected = float(exposure["MARKET"]) * move
        assert float(by_code[code]["pnl_fraction"]) == pytest.approx(expected, abs=1e-6)
        assert float(by_code[code]["pnl"]) == pytest.approx(expected * 200_000, abs=0.01)
        assert by_code[code]["revaluation"] is None and by_code[code]["window"] is None
    crash = by_code["MOMENTUM_CRASH"]
    assert float(crash["pnl_fraction"]) == pytest.approx(
        float(exposure["MOMENTUM"]) * -0.20 + float(exposure["MARKET"]) * 0.05, abs=1e-6
    )
    # TLT has no prices: Rates is not in the model, so the rates shock cannot be priced.
    rates = by_code["RATES_UP_100BP"]
    assert rates["pnl"] is None
    assert rates["null_reason"].startswith(
        f"RATES not in the model on {END}: TLT: daily returns in the 90-day window (TLT 0)"
    )
    assert [m["factor"] for m in rates["left_out"]] == ["RATES"]
    assert by_code["MARKET_DOWN_10"]["left_out"] == []


async def test_a_covered_replay_is_priced_both_ways_and_exact_for_factor_etfs(
    app: FastAPI, seed: Seed
) -> None:
    stress, _ = await _both(app, seed, seed.exact)
    by_code = {s["code"]: s for s in stress["scenarios"]}
    covid = by_code["COVID_2020"]
    held = await _get(app, seed.owner, f"/api/v1/portfolios/{seed.exact}/positions")
    value = {p["symbol"]: float(p["market_value"]) for p in held.json()["items"]}
    assert covid["window"] == ["2020-02-19", "2020-03-23"]
    moves = {m["factor"]: m for m in covid["moves"]}
    assert moves["RATES"]["move"] is None
    assert moves["RATES"]["null_reason"] == "no TLT prices on 2020-02-19 and 2020-03-23"
    assert moves["MARKET"]["move"] is not None and moves["SIZE"]["move"] is not None
    # Rates is not in the model (no TLT): left out, and said so; the others price the book.
    assert [m["factor"] for m in covid["left_out"]] == ["RATES"]
    market, size = float(moves["MARKET"]["move"]), float(moves["SIZE"]["move"])
    expected = value["SPY"] * market + value["IWM"] * (market + size)  # IWM's is short: < 0
    assert float(covid["pnl"]) == pytest.approx(expected, abs=0.1)
    # Full revaluation of factor ETFs: the model is exact, SPY is market 1 and IWM market 1
    # and size 1, so the model's error is nothing.
    revaluation = covid["revaluation"]
    assert Decimal(revaluation["coverage"]) == 1 and revaluation["not_covered"] == []
    assert float(revaluation["pnl"]) == pytest.approx(expected, abs=0.1)
    assert abs(Decimal(revaluation["model_error"])) <= Decimal("0.01")
    # Older replays have no prices at all.
    for code in ("GFC_2008", "RATES_2022"):
        assert by_code[code]["pnl"] is None
        assert by_code[code]["null_reason"].startswith("no SPY prices between")


async def test_another_users_portfolio_is_404(app: FastAPI, seed: Seed) -> None:
    response = await _get(app, seed.stranger, f"/api/v1/portfolios/{seed.exact}/stress")
    assert response.status_code == 404
    assert response.json()["detail"] == f"unknown portfolio {seed.exact}"


async def test_a_deleted_portfolio_is_404_though_its_figures_are_kept(
    app: FastAPI, seed: Seed
) -> None:
    response = await _get(app, seed.owner, f"/api/v1/portfolios/{seed.gone}/stress")
    assert response.status_code == 404
    assert response.json()["detail"] == f"unknown portfolio {seed.gone}"


@pytest.mark.parametrize("figures", ["stress", "factors", "correlations"])
async def test_a_read_of_a_portfolios_figures_checks_its_owner_once(
    app: FastAPI, seed: Seed, statements: list[str], figures: str
) -> None:
    response = await _get(app, seed.owner, f"/api/v1/portfolios/{seed.mixed}/{figures}")
    assert response.status_code == 200, response.text
    checks = [s for s in statements if "portfolios.owner_id" in s]
    assert len(checks) == 1, checks
