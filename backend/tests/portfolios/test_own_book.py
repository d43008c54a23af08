"""A user's first hour with their own book, end to end on the real PostgreSQL: created with
manage_users.py, signed in with a password, a portfolio created, the example book of 20
real symbols imported through the API and through the CLI, positions corrected and closed,
and another user refused (404) everywhere; retries with one key at the same time."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI

from app.config import BACKEND_DIR
from devtools.databases import TestDatabase
from tests.support.api import api_client
from tests.support.cli import run_script, script_env

EXAMPLE = BACKEND_DIR / "examples" / "positions.csv"
API = "/api/v1"
PASSWORD = "a long passphrase for ann"

pytestmark = pytest.mark.usefixtures("clean_tables")


async def _sign_in(app: FastAPI, database: TestDatabase, email: str) -> dict[str, str]:
    # Scripts run asyncio.run() themselves: in a thread, beside this test's event loop.
    made = await asyncio.to_thread(
        run_script,
        "manage_users",
        "create",
        email,
        "--password-stdin",
        env=script_env(database.env_url),
        stdin=PASSWORD + "\n",
    )
    assert made.code == 0, made.output
    async with api_client(app) as http:
        token = await http.post(f"{API}/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def test_a_new_user_builds_corrects_and_closes_a_book_that_no_one_else_sees(
    app: FastAPI, database: TestDatabase
) -> None:
    ann = await _sign_in(app, database, "ann@example.com")
    bob = await _sign_in(app, database, "bob@example.com")
    async with api_client(app, ann) as http, api_client(app, bob) as other:
        created = await http.post(f"{API}/portfolios", json={"name": "Core book"})
        assert created.status_code == 201
        portfolio = created.json()["id"]
        imported = await http.post(
            f"{API}/portfolios/{portfolio}/positions/import",
            params={"as_of": "2025-01-03"},
            files={"file": ("positions.csv", EXAMPLE.read_bytes(), "text/csv")},
        )
        assert imported.status_code == 200, imported.text
        added = {line["symbol"]: line["position_id"] for line in imported.json()["added"]}
        assert len(added) == 20

        corrected = await http.patch(f"{API}/positions/{added['MSFT']}", json={"quantity": 55})
        assert corrected.json()["quantity"] == "55.000000"
        closed = await http.patch(
            f"{API}/positions/{added['KO']}",
            json={"exit_date": "2025-02-03", "exit_price": "63.10"},
        )
        assert (closed.json()["exit_date"], closed.json()["position_type"]) == (
            "2025-02-03",
            "SHORT",
        )
        held = (await http.get(f"{API}/portfolios/{portfolio}/positions")).json()["items"]
        assert "KO" not in {p["symbol"] for p in held}  # closed; the put has expired too
        assert len(held) == 18

        for response in (
            await other.get(f"{API}/portfolios/{portfolio}/positions"),
            await other.get(f"{API}/portfolios/{portfolio}/risk"),
            await other.patch(f"{API}/portfolios/{portfolio}", json={"name": "Mine now"}),
            await other.patch(f"{API}/positions/{added['AAPL']}", json={"quantity": 1}),
            await other.delete(f"{API}/positions/{added['AAPL']}"),
            await other.delete(f"{API}/portfolios/{portfolio}"),
            await other.post(
                f"{API}/portfolios/{portfolio}/positions",
                json={"symbol": "AAPL", "quantity": 1, "entry_price": 1},
            ),
        ):
            assert response.status_code == 404, (response.request.url, response.text)
        assert (await other.get(f"{API}/portfolios")).json()["items"] == []

    # The CLI puts the same book into a second portfolio of hers, by the same rules.
    cli = await asyncio.to_thread(
        run_script,
        "import_positions",
        str(EXAMPLE),
        "--owner",
        "ann@example.com",
        "--new-portfolio",
        "Core book (CLI)",
        "--as-of",
        "2025-01-03",
        env=script_env(database.env_url),
    )
    assert cli.code == 0, cli.output
    async with api_client(app, ann) as http:
        listed = (await http.get(f"{API}/portfolios")).json()["items"]
        assert [(p["name"], p["stale_from"]) for p in listed] == [
            ("Core book", "2025-01-02"),
            ("Core book (CLI)", "2025-01-02"),
        ]


async def test_two_requests_with_one_key_at_once_write_once(
    app: FastAPI, database: TestDatabase
) -> None:
    ann = await _sign_in(app, database, "ann@example.com")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    async with api_client(app, ann) as http:
        portfolio = (await http.post(f"{API}/portfolios", json={"name": "Retries"})).json()["id"]

        def send() -> asyncio.Future[httpx.Response]:
            return asyncio.ensure_future(
                http.post(
                    f"{API}/portfolios/{portfolio}/positions/import",
                    content=EXAMPLE.read_bytes(),
                    headers={"content-type": "text/csv", **key},
                    params={"as_of": "2025-01-03"},
                )
            )

        first, second = await asyncio.gather(send(), send())
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        held = (await http.get(f"{API}/portfolios/{portfolio}/positions")).json()["items"]
        assert len(held) == 19  # once: the 20 of the file, less the expired put
