"""Who may read what: every portfolio and position endpoint against every way of not being
allowed to (no token, a bad one, an expired one, a disabled or removed user, another
user's portfolio or position). Benchmarks and health stay open."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.models import BenchmarkSectorWeight, PortfolioFactorExposure, PositionFactorExposure
from tests.support.auth import TEST_SIGNING_KEY, bearer
from tests.support.factories import (
    beta_row,
    make_portfolio,
    make_position,
    make_user,
    snapshot_row,
    volatility_row,
)

PROTECTED_PREFIXES = ("/api/v1/portfolios", "/api/v1/positions")


def _protected_operations() -> list[tuple[str, str]]:
    """Every (method, path) under the data prefixes, read from the app's own OpenAPI
    document (a new route is covered without editing this test)."""
    paths = create_app().openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, item in paths.items()
        if path.startswith(PROTECTED_PREFIXES)
        for method in item
    )


OPERATIONS = _protected_operations()
PATHS = [path for method, path in OPERATIONS if method == "GET"]
"""The reads."""
ID_OPERATIONS = [(method, path) for method, path in OPERATIONS if "{" in path]
"""The operations naming one portfolio or position (the list and POST /portfolios name none)."""

# A body each write accepts, so that what answers is who may write, not what was sent.
BODIES: dict[tuple[str, str], object] = {
    ("POST", "/api/v1/portfolios"): {"name": "Matrix"},
    ("PATCH", "/api/v1/portfolios/{portfolio_id}"): {"description": "changed"},
    ("POST", "/api/v1/portfolios/{portfolio_id}/positions"): {
        "symbol": "AAPL",
        "quantity": 1,
        "entry_price": 1,
    },
    ("PATCH", "/api/v1/positions/{position_id}"): {"quantity": 2},
}
CSV_BODY = ("POST", "/api/v1/portfolios/{portfolio_id}/positions/import")


async def _send(
    client: httpx.AsyncClient, method: str, path: str, url: str, headers: dict[str, str]
) -> httpx.Response:
    if (method, path) == CSV_BODY:
        csv = {"content-type": "text/csv", **headers}
        return await client.post(
            url, content=b"symbol,quantity,entry_price\nAAPL,1,1\n", headers=csv
        )
    return await client.request(method, url, json=BODIES.get((method, path)), headers=headers)


def test_the_matrix_covers_the_known_data_endpoints() -> None:
    assert OPERATIONS == [
        ("DELETE", "/api/v1/portfolios/{portfolio_id}"),
        ("DELETE", "/api/v1/positions/{position_id}"),
        ("GET", "/api/v1/portfolios"),
        ("GET", "/api/v1/portfolios/{portfolio_id}/correlations"),
        ("GET", "/api/v1/portfolios/{portfolio_id}/factors"),
        ("GET", "/api/v1/portfolios/{portfolio_id}/market-betas"),
        ("GET", "/api/v1/portfolios/{portfolio_id}/positions"),
        ("GET", "/api/v1/portfolios/{portfolio_id}/risk"),
        ("GET", "/api/v1/portfolios/{portfolio_id}/risk/history"),
        ("GET", "/api/v1/portfolios/{portfolio_id}/stress"),
        ("GET", "/api/v1/positions/{position_id}/volatility"),
        ("PATCH", "/api/v1/portfolios/{portfolio_id}"),
        ("PATCH", "/api/v1/positions/{position_id}"),
        ("POST", "/api/v1/portfolios"),
        ("POST", "/api/v1/portfolios/{portfolio_id}/positions"),
        ("POST", "/api/v1/portfolios/{portfolio_id}/positions/import"),
    ]


@dataclass(frozen=True)
class Seed:
    owner: uuid.UUID
    other: uuid.UUID
    disabled: uuid.UUID
    portfolio: uuid.UUID
    position: uuid.UUID
    others_portfolio: uuid.UUID
    others_position: uuid.UUID


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    owner = await make_user(db, "owner@example.com")
    other = await make_user(db, "other@example.com")
    disabled = await make_user(db, "disabled@example.com", active=False)
    mine = await make_portfolio(db, "Mine", owner=owner)
    theirs = await make_portfolio(db, "Theirs", owner=other)
    await make_portfolio(db, "Disabled user's", owner=disabled)
    position = await make_position(db, mine)
    others_position = await make_position(db, theirs)
    for portfolio, held in ((mine, position), (theirs, others_position)):
        db.add(snapshot_row(portfolio.id, date(2025, 3, 3)))
        factor_row = {"calculation_date": date(2025, 3, 3), "factor": "MARKET", "window_days": 90}
        db.add(PortfolioFactorExposure(portfolio_id=portfolio.id, **factor_row, null_reason="x"))
        db.add(
            PositionFactorExposure(
                portfolio_id=portfolio.id, position_id=held.id, **factor_row, null_reason="x"
            )
        )
    # Rows of another user's portfolio exist: the pages, which check ownership in the same
    # query as their rows, must still answer 404 for them, not their rows or an empty page.
    db.add(beta_row(theirs.id, others_position.id, date(2025, 3, 3), beta=Decimal("1.000000")))
    db.add(volatility_row(others_position.id, date(2025, 3, 3)))
    db.add(
        BenchmarkSectorWeight(
            benchmark_code="SP500",
            asof_date=date(2025, 3, 3),
            sector="Energy",
            weight=Decimal("0.040000"),
        )
    )
    await db.commit()
    return Seed(
        owner.id, other.id, disabled.id, mine.id, position.id, theirs.id, others_position.id
    )


def _url(path: str, portfolio: uuid.UUID, position: uuid.UUID) -> str:
    return path.format(portfolio_id=portfolio, position_id=position)


def _own(path: str, seed: Seed) -> str:
    return _url(path, seed.portfolio, seed.position)


@pytest.mark.parametrize("path", PATHS)
async def test_the_owner_reads_their_own(client: httpx.AsyncClient, seed: Seed, path: str) -> None:
    response = await client.get(_own(path, seed), headers=bearer(seed.owner))
    assert response.status_code == 200, response.text


def _unauthorised_headers(seed: Seed) -> dict[str, dict[str, str]]:
    long_ago = datetime.now(UTC) - timedelta(days=1)
    return {
        "no token": {},
        "empty bearer": {"Authorization": "Bearer "},
        "not bearer": {"Authorization": "Basic b3duZXJAZXhhbXBsZS5jb206eA=="},
        "garbage token": {"Authorization": "Bearer not-a-token"},
        "bad signature": bearer(seed.owner, key="someone-elses-key-" + "0" * 32),
        "expired": bearer(seed.owner, now=long_ago),
        "disabled user": bearer(seed.disabled),
        "removed user": bearer(uuid.uuid4()),
        "revoked (an older token version)": bearer(seed.owner, version=-1),
        "no token version": {
            "Authorization": "Bearer "
            + jwt.encode(
                {"sub": str(seed.owner), "iat": long_ago, "exp": long_ago + timedelta(days=2)},
                TEST_SIGNING_KEY,
                algorithm="HS256",
            )
        },
    }


CASES = list(_unauthorised_headers(Seed(*(uuid.uuid4() for _ in range(7)))))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("method", "path"), [*OPERATIONS, ("GET", "/api/v1/me")])
async def test_without_a_valid_sign_in_it_is_401_with_www_authenticate(
    client: httpx.AsyncClient, seed: Seed, method: str, path: str, case: str
) -> None:
    headers = _unauthorised_headers(seed)[case]
    response = await _send(client, method, path, _own(path, seed), headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert set(response.json()) == {"detail"}
    assert seed.portfolio.hex not in response.text.replace("-", "")


@pytest.mark.parametrize(("method", "path"), ID_OPERATIONS)
async def test_another_users_portfolio_or_position_is_404_exactly_as_a_missing_one(
    client: httpx.AsyncClient, seed: Seed, method: str, path: str
) -> None:
    theirs = _url(path, seed.others_portfolio, seed.others_position)
    response = await _send(client, method, path, theirs, bearer(seed.owner))
    assert response.status_code == 404
    the_id = seed.others_position if "{position_id}" in path else seed.others_portfolio
    kind = "position" if "{position_id}" in path else "portfolio"
    assert response.json() == {"detail": f"unknown {kind} {the_id}"}

    # The same answer for an id that exists nowhere, but for the id it names.
    missing = uuid.uuid4()
    absent = await _send(client, method, path, _url(path, missing, missing), bearer(seed.owner))
    assert absent.status_code == 404
    assert absent.json() == {"detail": f"unknown {kind} {missing}"}
    assert set(absent.headers) == set(response.headers)

    # And the other user does read it (a write went nowhere: it reads as before).
    read = "/api/v1/portfolios/{portfolio_id}/positions"
    if "{position_id}" in path:
        read = "/api/v1/positions/{position_id}/volatility"
    if method == "GET":
        read = path
    assert (
        await client.get(
            _url(read, seed.others_portfolio, seed.others_position), headers=bearer(seed.other)
        )
    ).status_code == 200


async def test_benchmarks_and_health_need_no_token(client: httpx.AsyncClient, seed: Seed) -> None:
    for path in ("/health", "/health/db", "/api/v1/benchmarks/SP500/sector-weights"):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)


def test_openapi_declares_the_bearer_scheme_on_protected_operations(app: FastAPI) -> None:
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == (
        "/api/v1/auth/token"
    )
    for path, item in document["paths"].items():
        for method, operation in item.items():
            secured = "security" in operation
            signed_in_only = {"/api/v1/me", "/api/v1/auth/logout-all"}
            expected = path.startswith(PROTECTED_PREFIXES) or path in signed_in_only
            assert secured == expected, (method, path)
