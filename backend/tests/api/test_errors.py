"""Error responses are JSON without internals, and the request session is the commit boundary."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.deps import SessionDep
from app.main import create_app
from app.models import Portfolio
from devtools.databases import TestDatabase
from devtools.processes import run_python

SECRET = "internal-detail-4f1c"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def probe_app(database: TestDatabase) -> AsyncIterator[FastAPI]:
    """The real app plus three routes that exercise the error and session boundaries."""
    app = create_app(database.async_url)

    @app.get("/probe/crash")
    async def crash() -> None:
        raise RuntimeError(SECRET)

    @app.post("/probe/write")
    async def write(session: SessionDep) -> dict[str, str]:
        session.add(Portfolio(name="kept"))
        await session.flush()
        return {"status": "written"}

    @app.post("/probe/write-then-crash")
    async def write_then_crash(session: SessionDep) -> None:
        session.add(Portfolio(name="rolled back"))
        await session.flush()
        raise RuntimeError(SECRET)

    @app.get("/probe/write-on-get")
    async def write_on_get(session: SessionDep) -> None:
        session.add(Portfolio(name="written by a GET"))
        await session.flush()

    @app.get("/probe/in-transaction")
    async def in_transaction(session: SessionDep) -> dict[str, bool]:
        # now() is the start of the transaction: it moves between statements only if
        # each statement is a transaction of its own.
        first = await session.scalar(text("SELECT now()"))
        await asyncio.sleep(0.01)
        second = await session.scalar(text("SELECT now()"))
        return {"autocommit": first != second}

    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def probe(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: see the response a real client gets, as from uvicorn.
    transport = httpx.ASGITransport(app=probe_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(Portfolio.name).order_by(Portfolio.name))).all())


async def test_unhandled_error_is_a_bare_500_and_is_logged(
    probe: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="app.errors"):
        response = await probe.get("/probe/crash")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert SECRET not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.name == "app.errors"]
    assert logged and logged[0].exc_info is not None
    assert SECRET in str(logged[0].exc_info[1])


async def test_request_session_commits_when_the_handler_returns(
    probe: httpx.AsyncClient, engine: AsyncEngine, clean_tables: None
) -> None:
    response = await probe.post("/probe/write")
    assert response.status_code == 200
    assert await _names(engine) == ["kept"]


async def test_request_session_rolls_back_when_the_handler_raises(
    probe: httpx.AsyncClient, engine: AsyncEngine, clean_tables: None
) -> None:
    response = await probe.post("/probe/write-then-crash")
    assert response.status_code == 500
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Portfolio)) == 0


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_wrong_method_is_a_json_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/health")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_a_get_request_reads_outside_a_transaction_and_cannot_write(
    probe: httpx.AsyncClient, engine: AsyncEngine, clean_tables: None
) -> None:
    """GET and HEAD sessions autocommit each statement (no BEGIN/COMMIT round trips) and
    refuse to flush; writes belong in POST/PUT/PATCH/DELETE, which keep a transaction."""
    assert (await probe.get("/probe/in-transaction")).json() == {"autocommit": True}
    response = await probe.get("/probe/write-on-get")
    assert response.status_code == 500
    assert await _names(engine) == []


@pytest.mark.slow  # a child process
def test_importing_the_module_level_app_starts_no_database(tmp_path: Path) -> None:
    """`app.main` builds the app at import; the embedded server starts (and the signing key
    is generated) only in the lifespan."""
    pgdata = tmp_path / "pgdata"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    # Blank DATABASE_URL means "embedded" (and beats a developer's backend/.env); blank
    # AUTH_SECRET_KEY means "generate one" (in the lifespan, not now).
    env |= {"DATABASE_URL": "", "EMBEDDED_PGDATA": str(pgdata), "AUTH_SECRET_KEY": ""}
    code = "import app.main; print(sorted(app.main.app.openapi()['paths'])[0])"
    result = run_python(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/api/v1/auth/logout-all"
    assert not pgdata.exists()
    assert list(tmp_path.iterdir()) == []  # no key file beside the data dir either
    assert "embedded PostgreSQL" not in result.stderr
