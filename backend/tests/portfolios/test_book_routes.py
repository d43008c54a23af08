"""The owner's book over HTTP: portfolios and positions created, corrected, closed and
deleted; another user's (or a deleted) id is a 404; retried POSTs answer once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import DailyPrice, IdempotencyKey, Portfolio, Position, SecurityProfile
from app.portfolios.rules import utc_today
from tests.support.api import signed_in
from tests.support.factories import make_user

PORTFOLIOS = "/api/v1/portfolios"
JAN_2, JAN_3 = date(2025, 1, 2), date(2025, 1, 3)


@dataclass
class Users:
    owner: uuid.UUID
    other: uuid.UUID


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def users(seed_session: AsyncSession) -> Users:
    db = seed_session
    owner = await make_user(db, "owner@example.com")
    other = await make_user(db, "other@example.com")
    for day, close in ((JAN_2, "243.85"), (JAN_3, "243.36")):
        db.add(
            DailyPrice(symbol="AAPL", date=day, close=Decimal(close), adjusted_close=Decimal(close))
        )
    price = Decimal("418.58")
    db.add(DailyPrice(symbol="MSFT", date=JAN_2, close=price, adjusted_close=price))
    db.add(SecurityProfile(symbol="AAPL", sector="Information Technology"))
    await db.commit()
    return Users(owner.id, other.id)


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI, users: Users) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(app, users.owner) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def other(app: FastAPI, users: Users) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(app, users.other) as http:
        yield http


async def _portfolio(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(PORTFOLIOS, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _position(client: httpx.AsyncClient, portfolio_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(f"{PORTFOLIOS}/{portfolio_id}/positions", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _count(engine: AsyncEngine, model: type[Any], **where: Any) -> int:
    async with AsyncSession(engine) as db:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(await db.scalar(stmt) or 0)


# --- portfolios -----------------------------------------------------------------------


async def test_a_new_portfolio_is_201_with_its_location_and_fields(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        PORTFOLIOS,
        json={"name": "  Growth  ", "description": "long only", "equity_balance": "250000.5"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{PORTFOLIOS}/{body['id']}"
    assert body == {
        "id": body["id"],
        "name": "Growth",
        "description": "long only",
        "currency": "USD",
        "equity_balance": "250000.50",
        "benchmark_code": "SP500",
        "stale_from": None,
        "latest_snapshot_date": None,
    }
    listed = (await client.get(PORTFOLIOS)).json()["items"]
    assert {
        "id": body["id"],
        "name": "Growth",
        "latest_snapshot_date": None,
        "stale_from": None,
        "prices_as_of": None,
    } in listed


async def test_a_name_is_unique_among_the_owners_live_portfolios_whatever_its_case(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    first = await _portfolio(client, "Income")
    again = await client.post(PORTFOLIOS, json={"name": "INCOME"})
    assert again.status_code == 409
    assert "you have a portfolio named 'INCOME' already" in again.json()["detail"]
    # Another owner may use it; a deleted portfolio's name is free again.
    assert (await other.post(PORTFOLIOS, json={"name": "Income"})).status_code == 201
    assert (await client.delete(f"{PORTFOLIOS}/{first['id']}")).status_code == 204
    assert (await client.post(PORTFOLIOS, json={"name": "income"})).status_code == 201
    renamed = await client.patch(f"{PORTFOLIOS}/{first['id']}", json={"name": "x"})
    assert renamed.status_code == 404  # the deleted one is gone for every write too


async def test_renaming_onto_another_portfolios_name_is_409(client: httpx.AsyncClient) -> None:
    await _portfolio(client, "Alpha one")
    beta = await _portfolio(client, "Beta one")
    clash = await client.patch(f"{PORTFOLIOS}/{beta['id']}", json={"name": "alpha ONE"})
    assert clash.status_code == 409


async def test_a_bad_portfolio_body_is_422_naming_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        PORTFOLIOS,
        json={"name": " ", "currency": "usx", "equity_balance": "-5", "colour": "red"},
    )
    assert response.status_code == 422
    located = {e["location"] for e in response.json()["errors"]}
    assert located == {"body.name", "body.currency", "body.equity_balance", "body.colour"}
    messages = " ".join(e["message"] for e in response.json()["errors"])
    assert "'USX' is not an ISO 4217 currency code" in messages
    assert "equity_balance must be greater than 0" in messages


async def test_patch_changes_only_what_it_sends(client: httpx.AsyncClient) -> None:
    made = await _portfolio(client, "Patch me", description="old", currency="EUR")
    changed = await client.patch(
        f"{PORTFOLIOS}/{made['id']}", json={"description": None, "equity_balance": 1000}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() | {"id": None} == {
        "id": None,
        "name": "Patch me",
        "description": None,
        "currency": "EUR",
        "equity_balance": "1000.00",
        "benchmark_code": "SP500",
        "stale_from": None,  # no figures stored: none out of date
        "latest_snapshot_date": None,
    }
    refused = await client.patch(f"{PORTFOLIOS}/{made['id']}", json={"name": None})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["location"] == "body.name"


async def test_a_deleted_portfolio_is_gone_from_every_read_and_its_rows_stay(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    made = await _portfolio(client, "Short lived")
    await _position(client, made["id"], symbol="AAPL", quantity=5, entry_date="2025-01-02")
    assert (await client.delete(f"{PORTFOLIOS}/{made['id']}")).status_code == 204
    assert made["id"] not in {p["id"] for p in (await client.get(PORTFOLIOS)).json()["items"]}
    for path in ("/positions", "/risk", "/risk/history", ""):
        method = client.delete if path == "" else client.get
        assert (await method(f"{PORTFOLIOS}/{made['id']}{path}")).status_code == 404, path
    assert await _count(engine, Position, portfolio_id=uuid.UUID(made["id"])) == 1


# --- positions ------------------------------------------------------------------------


async def test_a_position_without_entry_price_takes_the_stored_close_of_its_entry_date(
    client: httpx.AsyncClient,
) -> None:
    made = await _portfolio(client, "Closes")
    body = await _position(
        client, made["id"], symbol="aapl", quantity="100", entry_date="2025-01-03"
    )
    assert body | {"id": None} == {
        "id": None,
        "portfolio_id": made["id"],
        "symbol": "AAPL",
        "position_type": "LONG",
        "quantity": "100.000000",
        "entry_date": "2025-01-03",
        "entry_price": "243.3600",
        "exit_date": None,
        "exit_price": None,
        "underlying_symbol": None,
        "strike_price": None,
        "expiration_date": None,
        "data_status": None,
        "data_hint": None,
    }
    # A Saturday takes Friday's close; no close in the week before is an error on the field.
    saturday = await _position(
        client, made["id"], symbol="AAPL", quantity=1, entry_date="2025-01-04"
    )
    assert saturday["entry_price"] == "243.3600"
    missing = await client.post(
        f"{PORTFOLIOS}/{made['id']}/positions", json={"symbol": "NVDA", "quantity": 1}
    )
    assert missing.status_code == 422
    (error,) = missing.json()["errors"]
    assert error["location"] == "body.entry_price"
    assert "no stored close of NVDA" in error["message"]
    assert "scripts/load_prices.py --fmp NVDA" in error["message"]


async def test_a_position_of_a_symbol_without_data_is_kept_and_named(
    client: httpx.AsyncClient,
) -> None:
    made = await _portfolio(client, "No data yet")
    body = await _position(
        client, made["id"], symbol="ZZZT", quantity=3, entry_price="12.5", entry_date="2025-01-02"
    )
    assert body["data_status"] == "no_prices"
    assert "scripts/load_prices.py --fmp ZZZT" in body["data_hint"]
    msft = await _position(client, made["id"], symbol="MSFT", quantity=3, entry_date="2025-01-02")
    assert msft["data_status"] == "no_profile"
    held = (await client.get(f"{PORTFOLIOS}/{made['id']}/positions")).json()["items"]
    assert {i["symbol"]: i["data_status"] for i in held} == {
        "MSFT": "no_profile",
        "ZZZT": "no_prices",
    }


async def test_an_occ_symbol_fills_type_underlying_strike_and_expiration(
    client: httpx.AsyncClient,
) -> None:
    made = await _portfolio(client, "Options")
    body = await _position(
        client,
        made["id"],
        symbol="aapl  250620P00150000",
        position_type="SHORT",
        quantity=2,
        entry_price="4.10",
        entry_date="2025-01-02",
    )
    assert (
        body["symbol"],
        body["position_type"],
        body["underlying_symbol"],
        body["strike_price"],
        body["expiration_date"],
        body["data_status"],
    ) == ("AAPL250620P00150000", "SP", "AAPL", "150.0000", "2025-06-20", None)


async def test_a_bad_position_is_422_naming_each_field(client: httpx.AsyncClient) -> None:
    made = await _portfolio(client, "Bad positions")
    response = await client.post(
        f"{PORTFOLIOS}/{made['id']}/positions",
        json={
            "symbol": "AAPL",
            "quantity": 5,
            "entry_price": 1,
            "entry_date": "2025-01-03",
            "exit_date": "2025-01-02",
            "strike_price": 10,
        },
    )
    assert response.status_code == 422
    errors = {e["location"]: e["message"] for e in response.json()["errors"]}
    assert errors.keys() == {"body.exit_date", "body.strike_price"}
    assert "must be after entry_date 2025-01-03" in errors["body.exit_date"]
    assert "only options (LC, LP, SC, SP) have strike_price" in errors["body.strike_price"]
    for field, value in (("quantity", -1), ("symbol", "AA PL"), ("position_type", "FUTURE")):
        bad = await client.post(
            f"{PORTFOLIOS}/{made['id']}/positions",
            json={"symbol": "AAPL", "quantity": 1, "entry_price": 1, field: value},
        )
        assert bad.status_code == 422, field
        assert bad.json()["errors"][0]["location"] == f"body.{field}"
    future = await client.post(
        f"{PORTFOLIOS}/{made['id']}/positions",
        json={"symbol": "AAPL", "quantity": 1, "entry_price": 1, "entry_date": "2999-01-01"},
    )
    assert future.status_code == 422
    assert future.json()["errors"][0]["location"] == "body.entry_date"


async def test_correcting_and_closing_a_position(client: httpx.AsyncClient) -> None:
    made = await _portfolio(client, "Corrections")
    body = await _position(client, made["id"], symbol="AAPL", quantity=10, entry_date="2025-01-02")
    path = f"/api/v1/positions/{body['id']}"
    corrected = await client.patch(path, json={"quantity": "12"})
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["quantity"] == "12.000000"
    closed = await client.patch(path, json={"exit_date": "2025-01-03", "exit_price": "250"})
    assert closed.status_code == 200
    assert (closed.json()["exit_date"], closed.json()["exit_price"]) == ("2025-01-03", "250.0000")
    bad = await client.patch(path, json={"exit_date": "2025-01-01"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["location"] == "body.exit_date"
    # Closed on Jan 3: held at the close of Jan 2 only.
    on_jan_3 = (await client.get(f"{PORTFOLIOS}/{made['id']}/positions")).json()["items"]
    assert on_jan_3 == []
    assert (await client.delete(path)).status_code == 204
    assert (await client.patch(path, json={"quantity": 1})).status_code == 404
    assert (await client.delete(path)).status_code == 404


async def test_another_users_book_is_404_everywhere(
    client: httpx.AsyncClient, other: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    made = await _portfolio(client, "Mine only")
    pos = await _position(client, made["id"], symbol="AAPL", quantity=1, entry_date="2025-01-02")
    portfolio, position = f"{PORTFOLIOS}/{made['id']}", f"/api/v1/positions/{pos['id']}"
    attempts = [
        other.get(f"{portfolio}/positions"),
        other.get(f"{portfolio}/risk"),
        other.patch(portfolio, json={"name": "theirs"}),
        other.delete(portfolio),
        other.post(f"{portfolio}/positions", json={"symbol": "AAPL", "quantity": 1}),
        other.post(
            f"{portfolio}/positions/import",
            content=b"symbol,quantity,entry_price\nAAPL,1,1\n",
            headers={"content-type": "text/csv"},
        ),
        other.patch(position, json={"quantity": 2}),
        other.delete(position),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404, response.request.url
    assert await _count(engine, Position, portfolio_id=uuid.UUID(made["id"])) == 1
    mine = (await client.get(f"{portfolio}/positions")).json()["items"]
    assert [(p["id"], p["quantity"]) for p in mine] == [(pos["id"], "1.000000")]


# --- stale marks ----------------------------------------------------------------------


async def test_every_change_moves_the_stale_mark_back_to_the_earliest_date_it_touches(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    made = await _portfolio(client, "Stale marks")
    portfolio = f"{PORTFOLIOS}/{made['id']}"

    async def mark() -> str | None:
        listed = (await client.get(PORTFOLIOS)).json()["items"]
        found: str | None = next(p["stale_from"] for p in listed if p["id"] == made["id"])
        return found

    assert await mark() is None
    pos = await _position(client, made["id"], symbol="AAPL", quantity=1, entry_date="2025-01-03")
    assert await mark() == "2025-01-03"
    await _position(client, made["id"], symbol="AAPL", quantity=1, entry_date="2025-01-02")
    assert await mark() == "2025-01-02"
    await _position(client, made["id"], symbol="AAPL", quantity=1, entry_price=1)  # today
    assert await mark() == "2025-01-02"  # never forward
    await client.patch(
        f"/api/v1/positions/{pos['id']}", json={"entry_date": "2024-12-30", "entry_price": 1}
    )
    assert await mark() == "2024-12-30"
    async with engine.begin() as conn:  # as a run that caught up would leave it
        await conn.execute(
            text("UPDATE portfolios SET stale_from = NULL WHERE id = :id"), {"id": made["id"]}
        )
    await client.patch(f"/api/v1/positions/{pos['id']}", json={"exit_date": "2025-01-06"})
    assert await mark() == "2025-01-06"
    await client.delete(f"/api/v1/positions/{pos['id']}")
    assert await mark() == "2024-12-30"
    assert (await client.get(portfolio + "/positions")).status_code == 200


# --- idempotency ----------------------------------------------------------------------


async def test_a_retried_post_with_its_key_answers_the_first_answer_and_writes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, users: Users
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(PORTFOLIOS, json={"name": "Once"}, headers=key)
    again = await client.post(PORTFOLIOS, json={"name": "Once"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count(engine, Portfolio, name="Once") == 1

    other_body = await client.post(PORTFOLIOS, json={"name": "Twice"}, headers=key)
    assert other_body.status_code == 422
    assert "Idempotency-Key" in other_body.json()["detail"]
    assert await _count(engine, Portfolio, name="Twice") == 0

    path = f"{PORTFOLIOS}/{first.json()['id']}/positions"
    position = {"symbol": "AAPL", "quantity": 3, "entry_date": "2025-01-02"}
    key = {"Idempotency-Key": "add-aapl-1"}
    added = [await client.post(path, json=position, headers=key) for _ in range(3)]
    assert {r.status_code for r in added} == {201}
    assert len({r.json()["id"] for r in added}) == 1
    assert await _count(engine, Position, portfolio_id=uuid.UUID(first.json()["id"])) == 1
    # The same key on another endpoint is another request.
    assert (await client.post(PORTFOLIOS, json={"name": "x"}, headers=key)).status_code == 422


async def test_a_refused_request_keeps_no_key_and_an_expired_key_is_ignored(
    client: httpx.AsyncClient, engine: AsyncEngine, users: Users
) -> None:
    key = {"Idempotency-Key": "refused-then-fixed"}
    await _portfolio(client, "Taken name")
    assert (
        await client.post(PORTFOLIOS, json={"name": "taken NAME"}, headers=key)
    ).status_code == 409
    assert await _count(engine, IdempotencyKey, key="refused-then-fixed") == 0
    fixed = await client.post(PORTFOLIOS, json={"name": "Free name"}, headers=key)
    assert fixed.status_code == 201

    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                "WHERE key = 'refused-then-fixed'"
            )
        )
    fresh = await client.post(PORTFOLIOS, json={"name": "After a day"}, headers=key)
    assert fresh.status_code == 201
    assert fresh.json()["id"] != fixed.json()["id"]
    assert await _count(engine, IdempotencyKey, key="refused-then-fixed") == 1


async def test_today_is_the_default_entry_date(client: httpx.AsyncClient) -> None:
    made = await _portfolio(client, "Today")
    body = await _position(client, made["id"], symbol="AAPL", quantity=1, entry_price="200")
    assert body["entry_date"] == utc_today().isoformat()


async def test_the_risk_figures_say_when_a_change_made_them_out_of_date(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    made = await _portfolio(client, "Figures")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO portfolio_snapshots (portfolio_id, calculation_date)"
                " VALUES (:id, '2025-01-03')"
            ),
            {"id": made["id"]},
        )
    risk = f"{PORTFOLIOS}/{made['id']}/risk"
    assert (await client.get(risk)).json()["stale_from"] is None
    await _position(client, made["id"], symbol="AAPL", quantity=1, entry_date="2025-01-02")
    body = (await client.get(risk)).json()
    assert (body["calculation_date"], body["stale_from"]) == ("2025-01-03", "2025-01-02")
    # A new equity balance changes every stored figure: out of date from the first one.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE portfolios SET stale_from = NULL WHERE id = :id"), {"id": made["id"]}
        )
    await client.patch(f"{PORTFOLIOS}/{made['id']}", json={"equity_balance": "5000"})
    assert (await client.get(risk)).json()["stale_from"] == "2025-01-03"
