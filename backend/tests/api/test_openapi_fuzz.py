"""Property-based run of the app's own OpenAPI schema (schemathesis, in-process over ASGI).

Every operation gets generated valid and invalid inputs, half of them with random ids
(the 404/422 paths) and half with the ids of seeded rows (queries over real data), signed
in as the seeded rows' owner. No response may be a 5xx, and every response must match the
documented status codes, content type and schema.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.models import (
    BenchmarkSectorWeight,
    DailyPrice,
    PortfolioFactorExposure,
    PositionFactorExposure,
)
from devtools.databases import TestDatabase
from tests.support.auth import bearer
from tests.support.factories import (
    beta_row,
    make_portfolio,
    make_position,
    make_user,
    snapshot_row,
    volatility_row,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Known:
    owner: uuid.UUID
    portfolio_id: uuid.UUID
    position_id: uuid.UUID
    benchmark: str = "SP500"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def known(seed_session: AsyncSession) -> Known:
    db = seed_session
    owner = await make_user(db, "owner@example.com")
    portfolio = await make_portfolio(db, owner=owner)
    position = await make_position(db, portfolio)
    start = date(2025, 1, 1)
    for i in range(12):
        day = start + timedelta(days=i)
        db.add(
            snapshot_row(
                portfolio.id,
                day,
                market_beta_weighted=Decimal("1.0500"),
                sector_exposure={"Technology": 0.6, "Energy": 0.4},
            )
        )
        db.add(
            BenchmarkSectorWeight(
                benchmark_code="SP500",
                asof_date=day,
                sector="Information Technology",
                weight=Decimal("0.300000"),
            )
        )
        db.add(beta_row(portfolio.id, position.id, day, beta=Decimal("1.100000")))
        db.add(volatility_row(position.id, day, realized_vol_21d=Decimal("0.2")))
        factor = {"calculation_date": day, "factor": "MARKET", "window_days": 90}
        db.add(
            PortfolioFactorExposure(
                portfolio_id=portfolio.id, exposure=Decimal("0.9"), coverage=1, **factor
            )
        )
        db.add(
            PositionFactorExposure(
                portfolio_id=portfolio.id, position_id=position.id, exposure=Decimal(1), **factor
            )
        )
        close = Decimal("150.25")
        db.add(DailyPrice(symbol=position.symbol, date=day, close=close, adjusted_close=close))
    await db.commit()
    return Known(owner.id, portfolio.id, position.id)


@pytest.fixture(scope="module")
def api_schema(database: TestDatabase, known: Known) -> schemathesis.BaseSchema:
    # schemathesis runs the app's lifespan itself (engine built and disposed on its loop).
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(database.async_url))


def _operations() -> list[tuple[str, str]]:
    # Building the app and its OpenAPI document needs no database.
    paths = create_app().openapi()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


def _rows_to_delete(database: TestDatabase, owner: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A portfolio of ``owner`` holding one position, made for one DELETE operation."""
    engine = create_engine(database.sync_url)
    try:
        with engine.begin() as conn:
            portfolio = conn.execute(
                text("INSERT INTO portfolios (name, owner_id) VALUES (:n, :o) RETURNING id"),
                {"n": f"To delete {uuid.uuid4()}", "o": owner},
            ).scalar_one()
            position = conn.execute(
                text(
                    "INSERT INTO positions (portfolio_id, symbol, quantity, entry_price,"
                    " entry_date) VALUES (:p, 'AAPL', 1, 1, '2025-01-02') RETURNING id"
                ),
                {"p": portfolio},
            ).scalar_one()
        return portfolio, position
    finally:
        engine.dispose()


def _token_version(database: TestDatabase, user_id: uuid.UUID) -> int:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT token_version FROM users WHERE id = :id")
            return int(conn.execute(query, {"id": user_id}).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_operation_answers_with_a_server_error(
    api_schema: schemathesis.BaseSchema,
    database: TestDatabase,
    known: Known,
    method: str,
    path: str,
) -> None:
    operation = api_schema[path][method]
    # The owner's tokens as of now: fuzzing POST /api/v1/auth/logout-all revokes earlier ones.
    signed_in = bearer(known.owner, version=_token_version(database, known.owner))
    # A DELETE gets rows of its own: the seeded ones must stay for the other operations.
    portfolio_id, position_id = (
        _rows_to_delete(database, known.owner)
        if method == "DELETE"
        else (known.portfolio_id, known.position_id)
    )
    seeded = {
        name: value
        for name, value in {
            "portfolio_id": str(portfolio_id),
            "position_id": str(position_id),
            "code": known.benchmark,
        }.items()
        if "{" + name + "}" in path
    }
    strategies = [
        operation.as_strategy(mode, path_parameters=fixed)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for fixed in ({}, seeded)
        # Negative cases with every path parameter fixed still fuzz the query string.
    ]

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS, headers=signed_in)
        statuses.add(response.status_code)

    statuses: set[int] = set()
    run()
    if method != "GET":
        # Writes refuse most generated bodies by the book's rules (422); any answer but 401
        # shows the request was signed in and reached them.
        assert statuses - {401}, f"never signed in: {sorted(statuses)}"
    elif path.startswith(("/api/v1/portfolios", "/api/v1/positions", "/api/v1/me")):
        assert 200 in statuses, f"never signed in: {sorted(statuses)}"
