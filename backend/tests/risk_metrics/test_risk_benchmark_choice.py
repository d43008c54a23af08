"""The benchmark a portfolio is held against: set through POST/PATCH, used by GET /risk
for over/underweights unless the request's ``benchmark`` names another."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BenchmarkSectorWeight
from tests.support.api import signed_in
from tests.support.factories import make_portfolio, make_user, snapshot_row

IT, EN = "Information Technology", "Energy"
DAY = date(2025, 3, 10)
WEIGHTS = {"SP500": {IT: "0.300000", EN: "0.700000"}, "NDX": {IT: "0.900000", EN: "0.100000"}}


@dataclass
class Seed:
    owner: uuid.UUID
    other: uuid.UUID
    portfolio: uuid.UUID


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    owner = await make_user(db, "holder@example.com")
    other = await make_user(db, "not-the-holder@example.com")
    book = await make_portfolio(db, "Held against", owner=owner)
    for code, weights in WEIGHTS.items():
        for sector, weight in weights.items():
            db.add(
                BenchmarkSectorWeight(
                    benchmark_code=code, asof_date=DAY, sector=sector, weight=Decimal(weight)
                )
            )
    db.add(snapshot_row(book.id, DAY, sector_exposure={IT: 0.5, EN: 0.5}))
    await db.commit()
    return Seed(owner.id, other.id, book.id)


@pytest.fixture
def signed_in_as(seed: Seed) -> uuid.UUID:
    return seed.owner


def _actives(body: dict[str, object]) -> dict[str, str]:
    sectors = body["benchmark_comparison"]["sectors"]  # type: ignore[index]
    return {s["sector"]: s["active_weight"] for s in sectors}


async def test_risk_follows_the_portfolios_benchmark_unless_the_request_names_one(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    url = f"/api/v1/portfolios/{seed.portfolio}"
    first = (await client.get(f"{url}/risk")).json()
    assert first["benchmark_comparison"]["benchmark_code"] == "SP500"  # the default
    assert _actives(first) == {IT: "0.200000", EN: "-0.200000"}

    patched = await client.patch(url, json={"benchmark_code": "ndx"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["benchmark_code"] == "NDX"
    assert patched.json()["stale_from"] is None  # nothing stored depends on it
    held = (await client.get(f"{url}/risk")).json()
    assert held["benchmark_comparison"]["benchmark_code"] == "NDX"
    assert _actives(held) == {EN: "0.400000", IT: "-0.400000"}

    chosen = (await client.get(f"{url}/risk", params={"benchmark": "SP500"})).json()
    assert chosen["benchmark_comparison"]["benchmark_code"] == "SP500"

    # Held against a benchmark not seeded yet: no comparison, the reason says how.
    await client.patch(url, json={"benchmark_code": "DJIA"})
    unseeded = await client.get(f"{url}/risk")
    assert unseeded.status_code == 200
    assert unseeded.json()["benchmark_comparison"] is None
    assert unseeded.json()["benchmark_comparison_reason"].startswith(
        "no DJIA sector weights are stored: seed them with scripts/seed_benchmark_weights.py"
    )
    # ... but named by the request it must exist.
    named = await client.get(f"{url}/risk", params={"benchmark": "DJIA"})
    assert named.status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"benchmark_code": "FTSE100"}, "'FTSE100' is not a known benchmark: SP500 (S&P 500)"),
        ({"benchmark_code": None}, "benchmark_code cannot be removed (null)"),
        ({"benchmark_code": 500}, "Input should be a valid string"),
    ],
)
async def test_an_unknown_or_removed_benchmark_is_refused_naming_the_field(
    client: httpx.AsyncClient, seed: Seed, body: dict[str, object], message: str
) -> None:
    url = f"/api/v1/portfolios/{seed.portfolio}"
    before = (await client.get(f"{url}/risk")).json()
    response = await client.patch(url, json=body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["location"] == "body.benchmark_code"
    assert message in error["message"]
    assert (await client.get(f"{url}/risk")).json() == before


async def test_a_new_portfolio_takes_its_benchmark_or_the_sp500(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    made = await client.post(
        "/api/v1/portfolios", json={"name": "Dow book", "benchmark_code": "DJIA"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["benchmark_code"] == "DJIA"
    plain = await client.post("/api/v1/portfolios", json={"name": "Plain book"})
    assert plain.json()["benchmark_code"] == "SP500"
    refused = await client.post(
        "/api/v1/portfolios", json={"name": "Bad book", "benchmark_code": "sp-500"}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["location"] == "body.benchmark_code"


async def test_another_users_portfolio_cannot_be_given_a_benchmark(
    app: FastAPI, seed: Seed
) -> None:
    async with signed_in(app, seed.other) as other:
        response = await other.patch(
            f"/api/v1/portfolios/{seed.portfolio}", json={"benchmark_code": "NDX"}
        )
    assert response.status_code == 404
