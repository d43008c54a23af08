"""Responses encoded straight from rows (app.api.wire) are exactly what their documented
models make of the stored values: every field, decimals with the column's scale."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import Page
from app.risk_metrics.schemas import MarketBetaRead, PositionVolatilityRead, RiskHistory
from tests.support.factories import (
    beta_row,
    make_portfolio,
    make_position,
    make_user,
    snapshot_row,
    volatility_row,
)

DAY = date(2025, 3, 3)


@dataclass
class Seed:
    owner: uuid.UUID
    portfolio: uuid.UUID
    position: uuid.UUID
    beta: dict[str, Any]
    volatility: dict[str, Any]
    snapshot: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    owner = await make_user(db, "wire@example.com")
    portfolio = await make_portfolio(db, "Wire", owner=owner)
    position = await make_position(db, portfolio, "AAPL")
    # Values whose text is easy to get wrong: zero and tiny values at the column's scale
    # (Decimal's str would say 0E-6, 1E-6), negatives, fewer digits than the scale; and a
    # NaN, which NUMERIC can hold but a documented decimal cannot be.
    beta = beta_row(
        portfolio.id,
        position.id,
        DAY,
        id=uuid.uuid4(),
        beta=Decimal("-1.5"),
        alpha=Decimal("NaN"),
        r_squared=Decimal("0"),
        std_error=Decimal("0.000001"),
        p_value=None,
        observations=90,
    )
    volatility = volatility_row(
        position.id,
        DAY,
        id=uuid.uuid4(),
        realized_vol_21d=Decimal("0.2"),
        realized_vol_63d=Decimal("0"),
        vol_trend="stable",
        observations=63,
    )
    snapshot = snapshot_row(
        portfolio.id,
        DAY,
        market_beta_weighted=Decimal("-0.25"),
        market_beta_observations=90,
        hhi=Decimal("1234.5"),
        top_3_concentration=Decimal("0"),
        volatility_trend="increasing",
    )
    db.add_all([beta, volatility, snapshot])
    await db.commit()
    for row in (beta, volatility, snapshot):
        await db.refresh(row)  # the values as the columns hold them (scale applied)

    def stored(row: Any) -> dict[str, Any]:
        return {c.key: getattr(row, c.key) for c in row.__table__.columns}

    return Seed(
        owner.id,
        portfolio.id,
        position.id,
        {**stored(beta), "alpha": None, "symbol": "AAPL"},
        {**stored(volatility), "symbol": "AAPL"},
        stored(snapshot),
    )


@pytest.fixture
def signed_in_as(seed: Seed) -> uuid.UUID:
    """``client`` is the owner of the seeded rows."""
    return seed.owner


def _as_model_sends(model: type[BaseModel], value: dict[str, Any]) -> Any:
    return json.loads(model.model_validate(value).model_dump_json())


@pytest.mark.parametrize(
    ("path", "model", "expected"),
    [
        (
            "/api/v1/portfolios/{portfolio}/market-betas",
            Page[MarketBetaRead],
            lambda s: {"items": [s.beta], "next_cursor": None},
        ),
        (
            "/api/v1/positions/{position}/volatility",
            Page[PositionVolatilityRead],
            lambda s: {"items": [s.volatility], "next_cursor": None},
        ),
        (
            "/api/v1/portfolios/{portfolio}/risk/history",
            RiskHistory,
            lambda s: {"portfolio_id": s.portfolio, "points": [s.snapshot]},
        ),
    ],
    ids=["market-betas", "volatility", "risk history"],
)
async def test_a_response_from_rows_is_what_its_model_makes_of_the_stored_values(
    client: httpx.AsyncClient, seed: Seed, path: str, model: type[BaseModel], expected: Any
) -> None:
    response = await client.get(path.format(portfolio=seed.portfolio, position=seed.position))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == _as_model_sends(model, expected(seed))


async def test_decimals_keep_the_columns_scale_and_a_stored_nan_is_null(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    item = (await client.get(f"/api/v1/portfolios/{seed.portfolio}/market-betas")).json()
    (beta,) = item["items"]
    assert (beta["beta"], beta["r_squared"], beta["std_error"]) == (
        "-1.500000",
        "0.000000",
        "0.000001",
    )
    assert beta["alpha"] is None
    assert "created_at" not in beta and "updated_at" not in beta
