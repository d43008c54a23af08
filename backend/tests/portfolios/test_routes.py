"""GET /api/v1/portfolios and /api/v1/portfolios/{id}/positions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import DailyPrice
from tests.support.api import signed_in
from tests.support.factories import (
    beta_row,
    make_portfolio,
    make_position,
    make_user,
    snapshot_row,
    volatility_row,
)

MAR_3, MAR_5, MAR_10 = date(2025, 3, 3), date(2025, 3, 5), date(2025, 3, 10)
PUT = "AAPL250620P00150000"


@dataclass
class Seed:
    owner: uuid.UUID
    other: uuid.UUID
    main: uuid.UUID
    no_snapshots: uuid.UUID
    gammas: list[uuid.UUID]
    """Gamma 1, Gamma 2, Gamma 3; the snapshot one is ``gamma_with_snapshot``."""
    gamma_with_snapshot: uuid.UUID
    others_portfolio: uuid.UUID
    position: dict[str, uuid.UUID]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed(seed_session: AsyncSession) -> Seed:
    db = seed_session
    owner = await make_user(db, "owner@example.com")
    other = await make_user(db, "other@example.com")
    main = await make_portfolio(db, "Main", owner=owner)
    no_snapshots = await make_portfolio(db, "Alpha", owner=owner)
    gammas = [await make_portfolio(db, f"Gamma {n}", owner=owner) for n in (1, 2, 3)]
    await make_portfolio(db, "Deleted", owner=owner, deleted=True)
    theirs = await make_portfolio(db, "Theirs", owner=other)
    await make_position(db, no_snapshots, "KO", "7")

    held = {
        "AAPL": await make_position(db, main, "AAPL", "100"),
        # The direction is the type: a short of 50 shares is stored as 50.
        "MSFT": await make_position(db, main, "MSFT", "50", "SHORT"),
        PUT: await make_position(
            db, main, PUT, "1", "LP", underlying_symbol="AAPL", expiration_date=date(2025, 6, 20)
        ),
        "XOM": await make_position(db, main, "XOM", "10"),  # never priced
        # Held on Mar 3, not Mar 10; held on Mar 10, not Mar 3.
        "TSLA": await make_position(db, main, "TSLA", "4", exit_date=MAR_5),
        "NVDA": await make_position(db, main, "NVDA", "10", entry_date=date(2025, 3, 8)),
    }
    await make_position(db, theirs, "AAPL")

    prices = {
        ("AAPL", MAR_3): "180",
        ("AAPL", date(2025, 3, 7)): "200",  # the last close on or before Mar 10
        ("AAPL", date(2025, 3, 11)): "999",  # after every as_of: never used
        ("MSFT", MAR_3): "380",
        ("MSFT", MAR_10): "400",
        ("TSLA", MAR_3): "250",
        ("NVDA", MAR_10): "100",
        ("SPY", MAR_10): "560",
        ("SPY", date(2025, 3, 11)): "561",
    }
    for (symbol, day), close in prices.items():
        db.add(
            DailyPrice(symbol=symbol, date=day, close=Decimal(close), adjusted_close=Decimal(close))
        )
    for day in (MAR_3, MAR_5, MAR_10):
        db.add(snapshot_row(main.id, day))
    db.add(snapshot_row(gammas[1].id, MAR_5))
    db.add(snapshot_row(theirs.id, MAR_10))

    def beta(symbol: str, day: date, value: str, window: int = 90, **cols: Any) -> None:
        db.add(
            beta_row(
                main.id,
                held[symbol].id,
                day,
                beta=Decimal(value),
                observations=window,
                window_days=window,
                **cols,
            )
        )

    beta("AAPL", MAR_10, "1.200000", r_squared=Decimal("0.500000"))
    beta("AAPL", MAR_10, "9.900000", window=60)  # the default 90-day window wins
    beta("AAPL", MAR_5, "7.000000")  # another date
    beta("MSFT", MAR_10, "0.900000")
    beta("TSLA", MAR_3, "1.500000")
    db.add(
        volatility_row(
            held["AAPL"].id, MAR_10, realized_vol_21d=Decimal("0.25"), vol_trend="increasing"
        )
    )
    db.add(volatility_row(held["AAPL"].id, MAR_5, realized_vol_21d=Decimal("0.9")))
    await db.commit()
    return Seed(
        owner.id,
        other.id,
        main.id,
        no_snapshots.id,
        [p.id for p in gammas],
        gammas[1].id,
        theirs.id,
        {symbol: p.id for symbol, p in held.items()},
    )


@pytest.fixture
def signed_in_as(seed: Seed) -> uuid.UUID:
    """``client`` is the owner of the seeded portfolios."""
    return seed.owner


async def test_the_list_holds_the_callers_live_portfolios_by_name_then_id(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get("/api/v1/portfolios")
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": str(seed.no_snapshots),
                "name": "Alpha",
                "latest_snapshot_date": None,
                "stale_from": None,
                "prices_as_of": None,
            },
            *(
                {
                    "id": str(gamma),
                    "name": f"Gamma {n}",
                    "latest_snapshot_date": "2025-03-05"
                    if gamma == seed.gamma_with_snapshot
                    else None,
                    "stale_from": None,
                    "prices_as_of": None,  # no SPY price on or before Mar 5
                }
                for n, gamma in enumerate(seed.gammas, start=1)
            ),
            {
                "id": str(seed.main),
                "name": "Main",
                "latest_snapshot_date": "2025-03-10",
                "stale_from": None,
                "prices_as_of": "2025-03-10",  # SPY's last price on or before it
            },
        ]
    }


async def test_another_user_sees_only_their_own_portfolios(app: FastAPI, seed: Seed) -> None:
    async with signed_in(app, seed.other) as other:
        listed = await other.get("/api/v1/portfolios")
        assert listed.json() == {
            "items": [
                {
                    "id": str(seed.others_portfolio),
                    "name": "Theirs",
                    "latest_snapshot_date": "2025-03-10",
                    "stale_from": None,
                    "prices_as_of": "2025-03-10",
                }
            ]
        }
        for path in ("positions", "risk/history", "risk", "market-betas"):
            response = await other.get(f"/api/v1/portfolios/{seed.main}/{path}")
            assert response.status_code == 404, path
            assert response.json() == {"detail": f"unknown portfolio {seed.main}"}


async def test_a_user_without_portfolios_gets_an_empty_list(
    app: FastAPI, seed: Seed, seed_session: AsyncSession
) -> None:
    nobody = await make_user(seed_session, "nobody@example.com")
    await seed_session.commit()
    async with signed_in(app, nobody.id) as http:
        assert (await http.get("/api/v1/portfolios")).json() == {"items": []}


def _by_symbol(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["symbol"]: item for item in body["items"]}


async def test_positions_default_to_the_latest_snapshot_valued_at_the_last_close(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(f"/api/v1/portfolios/{seed.main}/positions")
    assert response.status_code == 200
    body = response.json()
    assert body["portfolio_id"] == str(seed.main)
    assert body["as_of"] == "2025-03-10"
    # By symbol; TSLA exited on Mar 5.
    assert [item["symbol"] for item in body["items"]] == ["AAPL", PUT, "MSFT", "NVDA", "XOM"]
    items = _by_symbol(body)
    # Worked by hand: AAPL 100 x 200 (Mar 7, its last close on or before Mar 10); MSFT
    # -50 x 400 short; the long put -1 x 100 x AAPL 200; NVDA 10 x 100; XOM has no price.
    # Gross = 20,000 + 20,000 + 20,000 + 1,000 = 61,000.
    expected = {
        "AAPL": ("20000.00", "0.327869"),
        PUT: ("-20000.00", "-0.327869"),
        "MSFT": ("-20000.00", "-0.327869"),
        "NVDA": ("1000.00", "0.016393"),
        "XOM": (None, None),
    }
    assert {s: (i["market_value"], i["weight"]) for s, i in items.items()} == expected
    assert items["AAPL"] == {
        "id": str(seed.position["AAPL"]),
        "symbol": "AAPL",
        "underlying_symbol": None,
        "position_type": "LONG",
        "quantity": "100.000000",
        "market_value": "20000.00",
        "weight": "0.327869",
        "beta": "1.200000",
        "r_squared": "0.500000",
        "realized_vol_21d": "0.2500",
        "vol_trend": "increasing",
        "data_status": "no_profile",  # prices, but no sector yet
        "data_hint": items["AAPL"]["data_hint"],
        "price_date": "2025-03-07",
        "excluded_reason": None,
        "excluded_detail": None,
    }
    assert {s: i["price_date"] for s, i in items.items()} == {
        "AAPL": "2025-03-07",
        PUT: "2025-03-07",  # its underlying's
        "MSFT": "2025-03-10",
        "NVDA": "2025-03-10",
        "XOM": None,
    }
    assert "scripts/load_prices.py --fmp AAPL" in items["AAPL"]["data_hint"]
    assert items["XOM"]["data_status"] == "no_prices"
    assert items[PUT]["underlying_symbol"] == "AAPL"
    assert items[PUT]["position_type"] == "LP"
    assert items["MSFT"]["quantity"] == "50.000000"
    assert (items["MSFT"]["beta"], items["MSFT"]["r_squared"]) == ("0.900000", None)
    for symbol in (PUT, "NVDA", "XOM"):
        assert items[symbol]["beta"] is None
        assert items[symbol]["realized_vol_21d"] is None


async def test_positions_as_of_a_date_use_the_snapshot_on_or_before_it(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    response = await client.get(
        f"/api/v1/portfolios/{seed.main}/positions", params={"date": "2025-03-04"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2025-03-03"
    items = _by_symbol(body)
    # NVDA entered Mar 8: not yet held. Gross = 18,000 + 19,000 + 18,000 + 1,000 = 56,000.
    assert {s: (i["market_value"], i["weight"]) for s, i in items.items()} == {
        "AAPL": ("18000.00", "0.321429"),
        PUT: ("-18000.00", "-0.321429"),
        "MSFT": ("-19000.00", "-0.339286"),
        "TSLA": ("1000.00", "0.017857"),
        "XOM": (None, None),
    }
    assert items["TSLA"]["beta"] == "1.500000"
    assert items["AAPL"]["beta"] is None  # its betas are on other dates
    # Mar 5 is a snapshot date itself: its own betas and vols.
    on_the_day = await client.get(
        f"/api/v1/portfolios/{seed.main}/positions", params={"date": "2025-03-05"}
    )
    aapl = _by_symbol(on_the_day.json())["AAPL"]
    assert (on_the_day.json()["as_of"], aapl["beta"], aapl["realized_vol_21d"]) == (
        "2025-03-05",
        "7.000000",
        "0.9000",
    )


async def test_positions_before_any_snapshot_are_todays_with_null_figures(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    for portfolio, params in ((seed.main, {"date": "2025-03-02"}), (seed.no_snapshots, {})):
        response = await client.get(f"/api/v1/portfolios/{portfolio}/positions", params=params)
        assert response.status_code == 200
        body = response.json()
        assert body["as_of"] is None
        for item in body["items"]:
            figures = ("market_value", "weight", "beta", "r_squared", "realized_vol_21d")
            assert [item[f] for f in (*figures, "vol_trend")] == [None] * 6
    # Today: TSLA has exited and the put has expired.
    assert [i["symbol"] for i in response.json()["items"]] == ["KO"]
    main_today = await client.get(
        f"/api/v1/portfolios/{seed.main}/positions", params={"date": "2025-03-02"}
    )
    assert [i["symbol"] for i in main_today.json()["items"]] == ["AAPL", "MSFT", "NVDA", "XOM"]


async def test_without_a_snapshot_the_positions_say_the_range_to_calculate(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    """From the first entry (closed positions too) to the last market price: what the
    dashboard's hint runs for this portfolio."""
    ranges = {}
    for portfolio, params in (
        (seed.main, {"date": "2025-03-02"}),  # before its first snapshot
        (seed.no_snapshots, {}),
        (seed.gammas[0], {}),  # no positions
        (seed.main, {}),  # a snapshot: no range
    ):
        body = (await client.get(f"/api/v1/portfolios/{portfolio}/positions", params=params)).json()
        ranges[(portfolio, tuple(params))] = (body["first_entry_date"], body["last_price_date"])
    assert list(ranges.values()) == [
        ("2025-01-02", "2025-03-11"),
        ("2025-01-02", "2025-03-11"),
        (None, "2025-03-11"),
        (None, None),
    ]


async def test_positions_take_one_query_per_table_whatever_their_number(
    client: httpx.AsyncClient, seed: Seed, statements: list[str]
) -> None:
    response = await client.get(f"/api/v1/portfolios/{seed.main}/positions")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 5
    tables = (
        "positions",
        "daily_prices",
        "position_market_betas",
        "position_volatility",
        "corporate_actions",  # the splits between a close and the stored quantity
    )
    # Whether each symbol has prices and a profile: one query for all of them.
    (status,) = [s for s in statements if "FROM security_profiles" in s]
    for table in tables:
        assert sum(f"FROM {table}" in s for s in statements if s != status) == 1, table
    # The user, the portfolio, the as-of date, the positions the snapshot left out, one
    # per table above, and the data status.
    assert len(statements) == 4 + len(tables) + 1, statements


async def test_positions_of_an_unknown_or_deleted_portfolio_is_404(
    client: httpx.AsyncClient,
) -> None:
    portfolio_id = uuid.uuid4()
    response = await client.get(f"/api/v1/portfolios/{portfolio_id}/positions")
    assert response.status_code == 404
    assert response.json() == {"detail": f"unknown portfolio {portfolio_id}"}


async def test_openapi_documents_the_as_of_meaning_and_the_units(app: FastAPI) -> None:
    document = app.openapi()
    operation = document["paths"]["/api/v1/portfolios/{portfolio_id}/positions"]["get"]
    (param,) = [p for p in operation["parameters"] if p["name"] == "date"]
    assert "on or before" in param["description"]
    item = document["components"]["schemas"]["HeldPositionRead"]["properties"]
    assert "decimal fraction (0.25 = 25%)" in item["realized_vol_21d"]["description"]
    assert "beta to SPY, dimensionless" in item["beta"]["description"]


async def test_a_nan_close_is_no_price_and_a_huge_exposure_keeps_its_cents(
    app: FastAPI, seed_session: AsyncSession
) -> None:
    db = seed_session
    user = await make_user(db, "extremes@example.com")
    portfolio = await make_portfolio(db, "Extremes", owner=user)
    await make_position(db, portfolio, "NANX", "10")
    await make_position(db, portfolio, "BIG", "99999999999999.999999")
    nan, big = Decimal("NaN"), Decimal("999999999999.999999")
    db.add(DailyPrice(symbol="NANX", date=MAR_10, close=nan, adjusted_close=nan))
    db.add(DailyPrice(symbol="BIG", date=MAR_10, close=big, adjusted_close=big))
    db.add(snapshot_row(portfolio.id, MAR_10))
    await db.commit()
    async with signed_in(app, user.id) as http:
        response = await http.get(f"/api/v1/portfolios/{portfolio.id}/positions")
    assert response.status_code == 200, response.text
    items = _by_symbol(response.json())
    assert (items["NANX"]["market_value"], items["NANX"]["weight"]) == (None, None)
    assert items["BIG"]["weight"] == "1.000000"
    assert Decimal(items["BIG"]["market_value"]) == pytest.approx(
        Decimal("1e26"), rel=Decimal("1e-12")
    )
    assert items["BIG"]["market_value"].endswith(".00")
