"""POST /api/v1/portfolios/{id}/positions/import against the real PostgreSQL: the example
book, all or nothing, append and replace, dry runs, limits, retries and two writes to one
portfolio at the same time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import BACKEND_DIR
from app.models import DailyPrice, Position
from app.portfolios import book
from app.portfolios.rules import MAX_POSITIONS, PositionChanges
from tests.support.api import signed_in
from tests.support.factories import make_user

EXAMPLE = BACKEND_DIR / "examples" / "positions.csv"
PORTFOLIOS = "/api/v1/portfolios"
CSV = {"content-type": "text/csv"}
JAN_2, JAN_3, JAN_6 = date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 6)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(seed_session: AsyncSession) -> uuid.UUID:
    user = await make_user(seed_session, "importer@example.com")
    for day, close in ((JAN_2, "243.85"), (JAN_3, "243.36"), (JAN_6, "245.00")):
        seed_session.add(
            DailyPrice(symbol="AAPL", date=day, close=Decimal(close), adjusted_close=Decimal(close))
        )
    price = Decimal("423.35")
    seed_session.add(DailyPrice(symbol="MSFT", date=JAN_3, close=price, adjusted_close=price))
    await seed_session.commit()
    return user.id


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI, owner: uuid.UUID) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(app, owner) as http:
        yield http


async def _new_portfolio(client: httpx.AsyncClient) -> str:
    response = await client.post(PORTFOLIOS, json={"name": f"Book {uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201
    return str(response.json()["id"])


async def _import(
    client: httpx.AsyncClient, portfolio_id: str, csv: str | bytes, **params: Any
) -> httpx.Response:
    body = csv.encode() if isinstance(csv, str) else csv
    query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    return await client.post(
        f"{PORTFOLIOS}/{portfolio_id}/positions/import", content=body, headers=CSV, params=query
    )


async def _open_book(engine: AsyncEngine, portfolio_id: str) -> list[tuple[str, str, Decimal]]:
    async with AsyncSession(engine) as db:
        rows = await db.execute(
            select(Position.symbol, Position.position_type, Position.quantity)
            .where(
                Position.portfolio_id == uuid.UUID(portfolio_id),
                Position.deleted_at.is_(None),
                Position.exit_date.is_(None),
            )
            .order_by(Position.symbol, Position.quantity)
        )
        return [(s, t, q) for s, t, q in rows]


async def _count(engine: AsyncEngine, portfolio_id: str) -> int:
    async with AsyncSession(engine) as db:
        stmt = select(func.count()).where(Position.portfolio_id == uuid.UUID(portfolio_id))
        return int(await db.scalar(stmt) or 0)


async def test_the_example_book_of_20_symbols_imports_and_reads_back(
    client: httpx.AsyncClient,
) -> None:
    portfolio = await _new_portfolio(client)
    response = await _import(client, portfolio, EXAMPLE.read_bytes(), as_of="2025-01-03")
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["dry_run"], result["mode"], result["as_of"]) == (False, "append", "2025-01-03")
    assert len(result["added"]) == 20
    assert result["closed"] == result["unchanged"] == result["rejected"] == []
    by_symbol = {line["symbol"]: line for line in result["added"]}
    assert by_symbol["KO"]["position_type"] == "SHORT"  # -200 in the file
    assert by_symbol["KO"]["quantity"] == "200.000000"
    assert by_symbol["AAPL250620P00200000"]["position_type"] == "LP"
    assert by_symbol["AAPL"]["line"] == 2 and by_symbol["AAPL250620P00200000"]["line"] == 21
    # Only AAPL and MSFT have prices here: the rest are named, with the command.
    assert by_symbol["AAPL"]["data_status"] == "no_profile"
    assert by_symbol["NVDA"]["data_status"] == "no_prices"
    assert "scripts/load_prices.py --fmp" in result["data_hint"]
    # Held today: all but the put, which expired on 2025-06-20.
    held = (await client.get(f"{PORTFOLIOS}/{portfolio}/positions")).json()["items"]
    assert sorted(p["symbol"] for p in held) == sorted(set(by_symbol) - {"AAPL250620P00200000"})
    assert {p["symbol"]: p["data_status"] for p in held}["SPY"] == "no_prices"
    cost = (await client.get(f"{PORTFOLIOS}")).json()["items"]
    assert next(p for p in cost if p["id"] == portfolio)["stale_from"] == "2025-01-02"


async def test_entry_prices_from_stored_closes_and_the_data_each_symbol_lacks(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    portfolio = await _new_portfolio(client)
    csv = "symbol,quantity,entry_price\nAAPL,1,\nMSFT,2,\nZZZQ,3,10\nAAPL,4,250\n"
    response = await _import(client, portfolio, csv, as_of="2025-01-03")
    assert response.status_code == 200, response.text
    added = [(a["symbol"], a["line"], a["data_status"]) for a in response.json()["added"]]
    # AAPL and MSFT have closes (their entry prices) but no profile; ZZZQ has neither.
    assert added == [
        ("AAPL", 2, "no_profile"),
        ("MSFT", 3, "no_profile"),
        ("ZZZQ", 4, "no_prices"),
        ("AAPL", 5, "no_profile"),
    ]
    async with AsyncSession(engine) as db:
        stored = await db.execute(
            select(Position.symbol, Position.entry_price)
            .where(Position.portfolio_id == uuid.UUID(portfolio))
            .order_by(Position.symbol, Position.entry_price)
        )
        assert [(symbol, str(price)) for symbol, price in stored] == [
            ("AAPL", "243.3600"),
            ("AAPL", "250.0000"),
            ("MSFT", "423.3500"),
            ("ZZZQ", "10.0000"),
        ]


async def test_one_bad_row_and_nothing_is_written_with_every_bad_row_listed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    portfolio = await _new_portfolio(client)
    csv = (
        "Symbol;Quantity;Entry_Price;entry_date\n"
        "AAPL;10;200;2025-01-02\n"
        "MSFT;0;400;2025-01-02\n"
        "NVDA;5;;2025-01-02\n"
        'AMZN;1,500;"$1,234.50";2025-13-01\n'
        "GOOGL;3;100\n"
        "META;2,5;600;2025-01-02\n"
    )
    response = await _import(client, portfolio, csv, as_of="2025-01-03")
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "5 rows rejected, nothing written"
    assert [(r["line"], r["field"]) for r in body["rejected"]] == [
        (3, "quantity"),
        (4, "entry_price"),
        (5, "entry_date"),
        (5, "quantity"),
        (6, None),
        (7, "quantity"),
    ]
    messages = {(r["line"], r["field"]): r["message"] for r in body["rejected"]}
    assert "thousands separator" in messages[5, "quantity"]
    assert "no stored close of NVDA on 2025-01-02" in messages[4, "entry_price"]
    assert "3 values, but the header has 4" in messages[6, None]
    assert "'.' as the decimal point" in messages[7, "quantity"]
    assert await _count(engine, portfolio) == 0


async def test_a_file_that_is_not_a_table_is_one_problem(client: httpx.AsyncClient) -> None:
    portfolio = await _new_portfolio(client)
    cases = {
        "": "the file is empty",
        "symbol,qty\nAAPL,1\n": "an unknown column 'qty'",
        "symbol,price\n": "unknown column 'price'",
        "symbol,quantity\n": "the file has a header but no rows",
        'symbol,quantity\n"AAPL,1\n': "never closed",
    }
    for csv, expected in cases.items():
        response = await _import(client, portfolio, csv)
        assert response.status_code == 422, csv
        (problem,) = response.json()["rejected"]
        assert expected in problem["message"], (csv, problem)
        assert response.json()["detail"].endswith("nothing written")
    latin1 = "symbol,quantity,entry_price\nNESN.SW,1,1\nCAFÉ,1,1\n".encode("latin-1")
    response = await _import(client, portfolio, latin1)
    assert response.json()["rejected"][0]["line"] == 3
    assert "not UTF-8" in response.json()["rejected"][0]["message"]


async def test_replace_closes_what_the_file_leaves_out_and_keeps_what_it_holds(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    portfolio = await _new_portfolio(client)
    first = "symbol,quantity,entry_date\nAAPL,10,2025-01-02\nMSFT,5,2025-01-03\nAAPL,7,2025-01-02\n"
    assert (await _import(client, portfolio, first, as_of="2025-01-03")).status_code == 200
    async with engine.begin() as conn:  # as if figures were current
        await conn.execute(
            text("UPDATE portfolios SET stale_from = NULL WHERE id = :id"), {"id": portfolio}
        )
    book_on_jan_6 = "\ufeffsymbol,quantity\nAAPL,10\nAAPL,3\n"
    dry = await _import(
        client, portfolio, book_on_jan_6, mode="replace", as_of="2025-01-06", dry_run=True
    )
    assert dry.status_code == 200, dry.text
    preview = dry.json()
    assert [
        (a["symbol"], a["quantity"], a["line"], a["position_id"]) for a in preview["added"]
    ] == [("AAPL", "3.000000", 3, None)]
    assert sorted((c["symbol"], c["quantity"]) for c in preview["closed"]) == [
        ("AAPL", "7.000000"),
        ("MSFT", "5.000000"),
    ]
    assert [(u["symbol"], u["quantity"], u["line"]) for u in preview["unchanged"]] == [
        ("AAPL", "10.000000", None)
    ]
    assert await _count(engine, portfolio) == 3  # the dry run wrote nothing

    done = await _import(client, portfolio, book_on_jan_6, mode="replace", as_of="2025-01-06")
    assert done.status_code == 200
    assert done.json() | {"added": None, "dry_run": None} == preview | {
        "added": None,
        "dry_run": None,
    }
    assert done.json()["added"][0]["position_id"] is not None
    assert await _open_book(engine, portfolio) == [
        ("AAPL", "LONG", Decimal("3.000000")),
        ("AAPL", "LONG", Decimal("10.000000")),
    ]
    listed = (await client.get(PORTFOLIOS)).json()["items"]
    assert next(p for p in listed if p["id"] == portfolio)["stale_from"] == "2025-01-06"
    # The same file again: everything is unchanged, nothing written.
    again = (
        await _import(client, portfolio, book_on_jan_6, mode="replace", as_of="2025-01-06")
    ).json()
    assert (len(again["added"]), len(again["closed"]), len(again["unchanged"])) == (0, 0, 2)


async def test_replace_matches_each_held_position_once_by_the_fields_the_row_gives(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    portfolio = await _new_portfolio(client)
    held = (
        "symbol,quantity,entry_date,entry_price\n"
        "AAPL,10,2025-01-02,240\nAAPL,10,2025-01-03,250\nAAPL,10,2025-01-02,260\n"
        "MSFT,-5,2025-01-02,400\n"
    )
    assert (await _import(client, portfolio, held, as_of="2025-01-03")).status_code == 200
    # Line 2 takes the 260 one; line 3 names it too, but it is taken: added. Line 4 gives
    # no price: the one entered on Jan 3. Line 5: the short MSFT, by its negative quantity.
    # The 240 one is left: closed.
    book_on_jan_6 = (
        "symbol,quantity,entry_date,entry_price\n"
        "AAPL,10,,260\nAAPL,10,,260\nAAPL,10,2025-01-03,\nMSFT,-5,,\n"
    )
    answer = await _import(client, portfolio, book_on_jan_6, mode="replace", as_of="2025-01-06")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert [(a["symbol"], a["line"]) for a in result["added"]] == [("AAPL", 3)]
    assert [(c["symbol"], c["entry_date"]) for c in result["closed"]] == [("AAPL", "2025-01-02")]
    assert sorted((u["symbol"], u["entry_date"]) for u in result["unchanged"]) == [
        ("AAPL", "2025-01-02"),
        ("AAPL", "2025-01-03"),
        ("MSFT", "2025-01-02"),
    ]
    async with AsyncSession(engine) as db:
        prices = await db.execute(
            select(Position.entry_price, Position.entry_date, Position.exit_date)
            .where(Position.portfolio_id == uuid.UUID(portfolio), Position.symbol == "AAPL")
            .order_by(Position.entry_price, Position.entry_date)
        )
        assert [(str(price), entry, exit) for price, entry, exit in prices] == [
            ("240.0000", JAN_2, JAN_6),
            ("250.0000", JAN_3, None),
            ("260.0000", JAN_2, None),
            ("260.0000", JAN_6, None),
        ]


async def test_replace_deletes_what_was_entered_on_as_of_itself(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    portfolio = await _new_portfolio(client)
    morning = "symbol,quantity\nAAPL,10\nAAPL,20\nMSFT,5\n"  # entered on as_of
    assert (await _import(client, portfolio, morning, as_of="2025-01-06")).status_code == 200
    evening = "symbol,quantity\nAAPL,20\n"
    answer = await _import(client, portfolio, evening, mode="replace", as_of="2025-01-06")
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["closed"]) == 2
    # Never held at a close: deleted (gone from every read), not closed on as_of.
    assert await _open_book(engine, portfolio) == [("AAPL", "LONG", Decimal("20.000000"))]
    async with AsyncSession(engine) as db:
        gone = await db.execute(
            select(Position.symbol, Position.exit_date)
            .where(Position.portfolio_id == uuid.UUID(portfolio), Position.deleted_at.is_not(None))
            .order_by(Position.symbol)
        )
        assert list(gone) == [("AAPL", None), ("MSFT", None)]


async def test_replace_refuses_rows_entered_after_as_of(client: httpx.AsyncClient) -> None:
    portfolio = await _new_portfolio(client)
    response = await _import(
        client,
        portfolio,
        "symbol,quantity,entry_date\nAAPL,1,2025-01-06\n",
        mode="replace",
        as_of="2025-01-03",
    )
    assert response.status_code == 422
    assert response.json()["rejected"][0]["field"] == "entry_date"
    future = await _import(client, portfolio, "symbol,quantity\nAAPL,1\n", as_of="2999-01-01")
    assert future.status_code == 422
    assert future.json()["errors"][0]["location"] == "query.as_of"


async def test_a_multipart_upload_and_an_unknown_content_type(client: httpx.AsyncClient) -> None:
    portfolio = await _new_portfolio(client)
    path = f"{PORTFOLIOS}/{portfolio}/positions/import"
    files = {"file": ("book.csv", b"symbol,quantity\nAAPL,4\n", "text/csv")}
    response = await client.post(path, files=files, params={"as_of": "2025-01-03"})
    assert response.status_code == 200, response.text
    assert response.json()["added"][0]["quantity"] == "4.000000"
    wrong = await client.post(path, json={"symbol": "AAPL"})
    assert wrong.status_code == 415
    empty = await client.post(path, files={"other": ("x.csv", b"symbol,quantity\n", "text/csv")})
    assert empty.status_code == 415


async def test_limits_refuse_the_whole_request(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    portfolio = await _new_portfolio(client)
    too_many = "symbol,quantity,entry_price\n" + "AAPL,1,1\n" * (MAX_POSITIONS + 1)
    response = await _import(client, portfolio, too_many)
    assert response.status_code == 422
    assert "more than 10,000 rows" in response.json()["detail"]
    assert await _count(engine, portfolio) == 0
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO positions (portfolio_id, symbol, quantity, entry_price, entry_date)"
                " SELECT :id, 'AAPL', 1, 1, '2025-01-02' FROM generate_series(1, :n)"
            ),
            {"id": portfolio, "n": MAX_POSITIONS - 1},
        )
    two_more = await _import(client, portfolio, "symbol,quantity,entry_price\nAAPL,1,1\nMSFT,1,1\n")
    assert two_more.status_code == 422
    assert "limit of 10,000 open positions" in two_more.json()["detail"]
    one_more = await client.post(
        f"{PORTFOLIOS}/{portfolio}/positions",
        json={"symbol": "MSFT", "quantity": 1, "entry_price": 1},
    )
    assert one_more.status_code == 201
    assert (
        await client.post(
            f"{PORTFOLIOS}/{portfolio}/positions",
            json={"symbol": "MSFT", "quantity": 1, "entry_price": 1},
        )
    ).status_code == 422


async def test_a_retried_import_answers_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    portfolio = await _new_portfolio(client)
    headers = CSV | {"Idempotency-Key": f"import-{portfolio}"}
    path = f"{PORTFOLIOS}/{portfolio}/positions/import"
    body = b"symbol,quantity\nAAPL,2\n"
    first = await client.post(path, content=body, headers=headers, params={"as_of": "2025-01-03"})
    second = await client.post(path, content=body, headers=headers, params={"as_of": "2025-01-03"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await _count(engine, portfolio) == 1
    other_query = await client.post(
        path, content=body, headers=headers, params={"as_of": "2025-01-02"}
    )
    assert other_query.status_code == 422


# --- two writes to one portfolio at once ----------------------------------------------------


async def test_two_imports_at_once_run_one_after_the_other(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    portfolio = await _new_portfolio(client)
    files = [
        "symbol,quantity\n" + "".join(f"AAPL,{n}\n" for n in range(1, 300)),
        "symbol,quantity\n" + "".join(f"MSFT,{n}\n" for n in range(1, 300)),
    ]
    results = await asyncio.gather(
        *(_import(client, portfolio, f, mode="replace", as_of="2025-01-03") for f in files)
    )
    assert [r.status_code for r in results] == [200, 200]
    # Whichever ran second saw the first's book whole and replaced it: the book is its file.
    second = max(range(2), key=lambda i: len(results[i].json()["closed"]))
    assert len(results[second].json()["closed"]) == 299
    assert len(results[1 - second].json()["closed"]) == 0
    symbol = "AAPL" if second == 0 else "MSFT"
    assert {s for s, _, _ in await _open_book(engine, portfolio)} == {symbol}
    assert len(await _open_book(engine, portfolio)) == 299


async def test_an_import_waits_for_a_change_holding_the_portfolio_and_then_sees_it(
    client: httpx.AsyncClient, engine: AsyncEngine, owner: uuid.UUID
) -> None:
    portfolio = await _new_portfolio(client)
    first = await _import(
        client, portfolio, "symbol,quantity,entry_date\nAAPL,10,2025-01-02\n", as_of="2025-01-03"
    )
    position_id = uuid.UUID(first.json()["added"][0]["position_id"])
    async with AsyncSession(engine, expire_on_commit=False) as db:
        # A PATCH in progress: it holds the portfolio row until it commits.
        await book.change_position(
            db, position_id, PositionChanges(quantity=Decimal(12)), owner=owner
        )
        running = asyncio.create_task(
            _import(
                client, portfolio, "symbol,quantity\nAAPL,10\n", mode="replace", as_of="2025-01-03"
            )
        )
        await asyncio.sleep(0.5)
        assert not running.done()  # waiting for the portfolio row
        await db.commit()
    result = (await running).json()
    # It compared the file with the changed book (12, not 10): closed and added, not unchanged.
    assert [c["quantity"] for c in result["closed"]] == ["12.000000"]
    assert [a["quantity"] for a in result["added"]] == ["10.000000"]
    assert result["unchanged"] == []
