"""GET /api/v1/positions/{id}/volatility: stored rows, newest first, keyset-paginated."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PositionVolatility
from tests.support.api import all_pages
from tests.support.factories import make_portfolio, make_position, make_user, volatility_row

FIRST_DAY = date(2025, 1, 1)
DAYS = 30


@dataclass
class Seed:
    owner: uuid.UUID
    position: uuid.UUID
    other: uuid.UUID
    deleted: uuid.UUID
    rows: dict[date, uuid.UUID]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    owner = await make_user(db, "owner@example.com")
    portfolio = await make_portfolio(db, owner=owner)
    position = await make_position(db, portfolio, "AAPL")
    other = await make_position(db, portfolio, "MSFT")
    deleted = await make_position(db, portfolio, "XOM", deleted=True)
    rows: dict[date, uuid.UUID] = {}
    for i in range(DAYS):
        day = FIRST_DAY + timedelta(days=i)
        row = volatility_row(
            position.id,
            day,
            id=uuid.uuid4(),
            realized_vol_21d=Decimal("0.2000") + Decimal(i) / 10000,
            vol_trend="stable",
            observations=63,
        )
        db.add(row)
        rows[day] = row.id
        db.add(volatility_row(other.id, day))
    await db.commit()
    return Seed(owner.id, position.id, other.id, deleted.id, rows)


@pytest.fixture
def signed_in_as(seed: Seed) -> uuid.UUID:
    """``client`` is the owner of the seeded positions."""
    return seed.owner


def _path(position_id: uuid.UUID) -> str:
    return f"/api/v1/positions/{position_id}/volatility"


async def test_default_page_is_every_row_newest_first(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(_path(seed.position))
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    days = [item["calculation_date"] for item in body["items"]]
    assert days == [d.isoformat() for d in sorted(seed.rows, reverse=True)]
    assert [item["id"] for item in body["items"]] == [
        str(seed.rows[d]) for d in sorted(seed.rows, reverse=True)
    ]
    newest = body["items"][0]
    assert newest["realized_vol_21d"] == "0.2029"  # 0.2000 + 29/10000
    assert newest["vol_trend"] == "stable"
    assert newest["observations"] == 63
    assert newest["position_id"] == str(seed.position)
    assert {item["symbol"] for item in body["items"]} == {"AAPL"}
    assert (await client.get(_path(seed.other))).json()["items"][0]["symbol"] == "MSFT"


async def test_from_and_to_are_inclusive(client: httpx.AsyncClient, seed: Seed) -> None:
    response = await client.get(
        _path(seed.position), params={"from": "2025-01-10", "to": "2025-01-12"}
    )
    assert response.status_code == 200
    assert [i["calculation_date"] for i in response.json()["items"]] == [
        "2025-01-12",
        "2025-01-11",
        "2025-01-10",
    ]


async def test_pages_within_a_range_neither_repeat_nor_skip(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    pages = await all_pages(
        client,
        _path(seed.position),
        limit=6,
        field="calculation_date",
        **{"from": "2025-01-05", "to": "2025-01-25"},
    )
    expected = [date(2025, 1, 25) - timedelta(days=i) for i in range(21)]
    assert [day for page in pages for day in page] == [d.isoformat() for d in expected]
    assert len(pages) == 4  # 21 rows at 6 a page


async def test_rows_added_while_paging_do_not_shift_later_pages(
    client: httpx.AsyncClient, seed: Seed, seed_session: AsyncSession
) -> None:
    first = (await client.get(_path(seed.position), params={"limit": "10"})).json()
    # A newer row arrives between page requests (an offset-based page 2 would repeat a row).
    seed_session.add(volatility_row(seed.position, date(2025, 6, 1)))
    await seed_session.commit()
    try:
        second = (
            await client.get(
                _path(seed.position), params={"limit": "10", "cursor": first["next_cursor"]}
            )
        ).json()
        expected = sorted(seed.rows, reverse=True)
        assert [i["calculation_date"] for i in first["items"] + second["items"]] == [
            d.isoformat() for d in expected[:20]
        ]
    finally:
        await seed_session.execute(
            delete(PositionVolatility).where(
                PositionVolatility.calculation_date == date(2025, 6, 1)
            )
        )
        await seed_session.commit()


async def test_from_after_to_is_400(client: httpx.AsyncClient, seed: Seed) -> None:
    response = await client.get(
        _path(seed.position), params={"from": "2025-01-12", "to": "2025-01-10"}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "'from' (2025-01-12) is after 'to' (2025-01-10)"}


@pytest.mark.parametrize("which", ["unknown", "deleted"])
async def test_unknown_or_deleted_position_is_404(
    client: httpx.AsyncClient, seed: Seed, which: str
) -> None:
    position_id = uuid.uuid4() if which == "unknown" else seed.deleted
    response = await client.get(_path(position_id))
    assert response.status_code == 404
    assert response.json() == {"detail": f"unknown position {position_id}"}


@pytest.mark.parametrize(
    ("path", "params", "location"),
    [
        ("/api/v1/positions/zzz/volatility", {}, "path.position_id"),
        ("/api/v1/positions/{id}/volatility", {"from": "2025-1-1x"}, "query.from"),
        ("/api/v1/positions/{id}/volatility", {"to": "tomorrow"}, "query.to"),
        ("/api/v1/positions/{id}/volatility", {"limit": "-1"}, "query.limit"),
        ("/api/v1/positions/{id}/volatility", {"limit": "1000000"}, "query.limit"),
    ],
)
async def test_malformed_input_is_422_naming_the_parameter(
    client: httpx.AsyncClient, seed: Seed, path: str, params: dict[str, str], location: str
) -> None:
    response = await client.get(path.format(id=seed.position), params=params)
    assert response.status_code == 422
    assert [e["location"] for e in response.json()["errors"]] == [location]
