"""A sick database is a 503 with Retry-After and a reason, never a 500, and the app recovers
by itself when the database does.

Faults are real where the shared server allows it (a role or database that does not exist,
an unmigrated schema, a statement past its time limit, a terminated connection) and come
from a TCP proxy in front of the server otherwise (stopped, hung, starting up).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack

import httpx
import pytest
import pytest_asyncio
from alembic import command
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.api.deps import SessionDep
from app.config import Settings
from app.main import create_app
from devtools.databases import PostgresServer, TestDatabase, alembic_config
from devtools.tcp_proxy import FaultProxy, fault_proxy
from tests.support.auth import bearer, make_signed_in_user
from tests.support.factories import make_portfolio

# Small limits, so each fault shows within a second.
FAST = Settings(
    DB_POOL_SIZE=2,
    DB_MAX_OVERFLOW=0,
    DB_POOL_TIMEOUT=0.5,
    DB_CONNECT_TIMEOUT=1.0,
    DB_STATEMENT_TIMEOUT=0.5,
)
SECRET = "pw-7b1e-never-shown"
HELD_LOCK = 7_151_001
"""An advisory lock key: a probe request waits on it for as long as the test holds it."""

OpenApp = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


def _with_probe_routes(app: FastAPI) -> FastAPI:
    @app.get("/probe/sleep")
    async def sleep(session: SessionDep, seconds: float) -> dict[str, str]:
        await session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return {"status": "slept"}

    @app.get("/probe/wait-for-lock")
    async def wait_for_lock(session: SessionDep) -> dict[str, str]:
        # Blocks while the test holds HELD_LOCK; the lock goes with the request's transaction.
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": HELD_LOCK})
        return {"status": "locked"}

    @app.get("/probe/backend-pid")
    async def backend_pid(session: SessionDep) -> dict[str, int]:
        return {"pid": int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)}

    return app


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fault_owner(seed_session: AsyncSession) -> tuple[str, dict[str, str]]:
    """A data endpoint that reads the database (the market betas of a real portfolio) and
    the sign-in header of the portfolio's owner."""
    user = await make_signed_in_user(seed_session, "faults@example.com")
    portfolio = await make_portfolio(seed_session, name="faults", owner=user)
    await seed_session.commit()
    return f"/api/v1/portfolios/{portfolio.id}/market-betas", bearer(user.id)


@pytest_asyncio.fixture(loop_scope="session")
async def open_app(fault_owner: tuple[str, dict[str, str]]) -> AsyncIterator[OpenApp]:
    """Start apps on any URL with the FAST limits; lifespans closed after the test."""
    async with AsyncExitStack() as stack:

        async def opener(
            url: URL | str, settings: Settings = FAST
        ) -> tuple[FastAPI, httpx.AsyncClient]:
            app = _with_probe_routes(create_app(url, settings))
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=transport, base_url="http://testserver", headers=fault_owner[1]
                )
            )
            return app, client

        yield opener


@pytest.fixture
def proxy(database: TestDatabase) -> Iterator[FaultProxy]:
    with fault_proxy(database.async_url) as running:
        yield running


@pytest.fixture
def portfolio_path(fault_owner: tuple[str, dict[str, str]]) -> str:
    return fault_owner[0]


def assert_unavailable(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    detail = response.json()["detail"]
    assert detail.startswith("database unavailable: ") and reason in detail, detail
    assert SECRET not in response.text


async def recovered(client: httpx.AsyncClient, path: str, attempts: int = 20) -> int:
    """Requests until one succeeds; each failure on the way must be a 503."""
    for _ in range(attempts):
        response = await client.get(path)
        if response.status_code == 200:
            return 200
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.25)
    return response.status_code


async def test_stopped_server_is_503_and_the_app_recovers_when_it_is_back(
    proxy: FaultProxy, database: TestDatabase, open_app: OpenApp, portfolio_path: str
) -> None:
    _, client = await open_app(proxy.url(database.async_url))
    assert (await client.get(portfolio_path)).status_code == 200

    proxy.stop()
    statuses = []
    for _ in range(5):  # pooled connections were cut, new ones are refused
        response = await client.get(portfolio_path)
        statuses.append(response.status_code)
        if response.status_code != 200:
            assert_unavailable(response, "")
    assert 503 in statuses and 500 not in statuses
    assert_unavailable(await client.get(portfolio_path), "refused the connection")
    health = await client.get("/health/db")
    assert health.status_code == 503
    assert health.json()["status"] == "unreachable"
    assert health.json()["detail"] == (
        "database unreachable: the database server refused the connection"
    )

    proxy.restore()
    assert await recovered(client, portfolio_path) == 200
    assert (await client.get("/health/db")).status_code == 200


async def test_server_starting_up_or_shutting_down_is_503(
    proxy: FaultProxy, database: TestDatabase, open_app: OpenApp, portfolio_path: str
) -> None:
    _, client = await open_app(proxy.url(database.async_url))
    proxy.reject_startup("57P03", "the database system is starting up")
    response = await client.get(portfolio_path)
    assert_unavailable(response, "starting up or shutting down")
    proxy.reject_startup("57P03", "the database system is shutting down")
    assert_unavailable(await client.get(portfolio_path), "starting up or shutting down")
    assert (await client.get("/health/db")).status_code == 503

    proxy.restore()
    assert await recovered(client, portfolio_path) == 200


async def test_hung_server_is_503_within_the_time_limits_and_then_recovers(
    proxy: FaultProxy, database: TestDatabase, open_app: OpenApp, portfolio_path: str
) -> None:
    _, client = await open_app(proxy.url(database.async_url))
    assert (await client.get(portfolio_path)).status_code == 200  # one pooled connection

    proxy.hang()
    # Both the pooled connection (a statement that never returns) and a new one (a
    # connect that never completes) give up on their own limits: no outer timeout here
    # would help a real client either.
    first, second = await asyncio.gather(client.get(portfolio_path), client.get(portfolio_path))
    for response in (first, second):
        assert_unavailable(response, "")
    health = await client.get("/health/db")
    assert health.status_code == 503
    assert health.json()["detail"] == (
        "database unreachable: the database server did not answer in time"
    )

    proxy.restore()
    assert await recovered(client, portfolio_path) == 200


async def test_connection_terminated_by_the_server_is_503_never_500(
    database: TestDatabase, open_app: OpenApp, engine: AsyncEngine, portfolio_path: str
) -> None:
    """What a server shutdown does to busy connections: FATAL 57P01, then EOF."""
    _, client = await open_app(
        database.async_url, FAST.model_copy(update={"db_statement_timeout": 30})
    )
    pid = (await client.get("/probe/backend-pid")).json()["pid"]
    sleeping = asyncio.create_task(client.get("/probe/sleep", params={"seconds": 20}))
    await _until_running(engine, pid, "pg_sleep")
    async with engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    response = await sleeping
    assert_unavailable(response, "")
    assert await recovered(client, portfolio_path) == 200


async def test_a_pooled_connection_the_server_closed_is_replaced_before_use(
    database: TestDatabase, open_app: OpenApp, engine: AsyncEngine, portfolio_path: str
) -> None:
    """A restart or idle timeout closes connections while they sit in the pool: the next
    request gets a fresh one instead of an error."""
    _, client = await open_app(database.async_url, FAST.model_copy(update={"db_pool_size": 1}))
    pid = (await client.get("/probe/backend-pid")).json()["pid"]
    async with engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await asyncio.sleep(0.2)  # the client sees the socket close
    assert (await client.get(portfolio_path)).status_code == 200
    assert (await client.get("/probe/backend-pid")).json()["pid"] != pid


async def test_unknown_role_is_503_without_the_password(
    database: TestDatabase, open_app: OpenApp, portfolio_path: str
) -> None:
    url = database.async_url.set(username=f"nobody_{uuid.uuid4().hex[:6]}", password=SECRET)
    _, client = await open_app(url)
    assert_unavailable(await client.get(portfolio_path), "rejected the configured role")
    health = await client.get("/health/db")
    assert health.status_code == 503
    assert "rejected the configured role or password" in health.json()["detail"]
    assert SECRET not in health.text


async def test_wrong_password_is_503(
    proxy: FaultProxy, database: TestDatabase, open_app: OpenApp, portfolio_path: str
) -> None:
    # The test servers trust local connections, so the proxy answers as a server with
    # password authentication does.
    _, client = await open_app(proxy.url(database.async_url.set(password=SECRET)))
    proxy.reject_startup("28P01", 'password authentication failed for user "postgres"')
    assert_unavailable(await client.get(portfolio_path), "rejected the configured role")
    proxy.restore()
    assert await recovered(client, portfolio_path) == 200


async def test_missing_database_is_503_until_it_is_created(
    pg_server: PostgresServer, migrated_template: str, open_app: OpenApp
) -> None:
    name = f"rm_absent_{uuid.uuid4().hex[:8]}"
    _, client = await open_app(pg_server.url_for(name, "postgresql+asyncpg"))
    path = "/api/v1/benchmarks/SP500/sector-weights"
    assert_unavailable(await client.get(path), "database does not exist")
    assert (await client.get("/health/db")).status_code == 503
    admin = create_engine(pg_server.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": migrated_template},
            )
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"'))
        assert (await client.get(path)).status_code == 404  # served: nothing seeded
    finally:
        admin.dispose()
        pg_server.drop_database(name)


async def test_unmigrated_schema_is_503_naming_the_upgrade_and_serves_once_migrated(
    empty_database: TestDatabase, open_app: OpenApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app"):
        _, client = await open_app(empty_database.async_url)
    assert any("cd backend && uv run alembic upgrade head" in r.message for r in caplog.records)

    # Public data (no user needed in this fresh database) behind the same schema gate.
    path = "/api/v1/benchmarks/SP500/sector-weights"
    response = await client.get(path)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    detail = response.json()["detail"]
    assert "behind this code" in detail
    assert detail.endswith("run `cd backend && uv run alembic upgrade head`")

    await asyncio.to_thread(command.upgrade, alembic_config(empty_database.sync_url), "head")
    # A health probe refreshes what the app knows about the schema: no restart needed.
    assert (await client.get("/health/db")).status_code == 200
    assert (await client.get(path)).status_code == 404  # served: nothing seeded yet


async def test_table_missing_under_a_running_app_is_503_naming_the_upgrade(
    pg_server: PostgresServer, migrated_template: str, open_app: OpenApp
) -> None:
    db = pg_server.create_database("rm_faults", template=migrated_template)
    try:
        _, client = await open_app(db.async_url)
        path = "/api/v1/benchmarks/SP500/sector-weights"
        assert (await client.get(path)).status_code == 404  # at head, nothing seeded
        await _sql(db, "ALTER TABLE benchmarks_sector_weights RENAME TO bsw_away")
        response = await client.get(path)
        assert response.status_code == 503
        assert response.json()["detail"].endswith("`cd backend && uv run alembic upgrade head`")
        await _sql(db, "ALTER TABLE bsw_away RENAME TO benchmarks_sector_weights")
        assert (await client.get(path)).status_code == 404
    finally:
        pg_server.drop_database(db.name)


async def test_a_database_migrated_by_a_newer_release_keeps_serving(
    pg_server: PostgresServer, migrated_template: str, open_app: OpenApp
) -> None:
    """Stamped with a revision this code does not know (migrated ahead, as in a rolling
    deploy): /health/db says so, but data requests are not held back."""
    db = pg_server.create_database("rm_ahead", template=migrated_template)
    try:
        await _sql(db, "UPDATE alembic_version SET version_num = 'feedfacecafe'")
        _, client = await open_app(db.async_url)
        assert (await client.get("/health/db")).json()["status"] == "unknown_revision"
        assert (await client.get("/api/v1/benchmarks/SP500/sector-weights")).status_code == 404
    finally:
        pg_server.drop_database(db.name)


async def test_exhausted_pool_is_a_prompt_503(
    database: TestDatabase, open_app: OpenApp, engine: AsyncEngine, portfolio_path: str
) -> None:
    settings = FAST.model_copy(update={"db_pool_size": 1, "db_statement_timeout": 30})
    _app, client = await open_app(database.async_url, settings)
    pid = (await client.get("/probe/backend-pid")).json()["pid"]
    async with engine.connect() as lock_holder:
        await lock_holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": HELD_LOCK})
        holder = asyncio.create_task(client.get("/probe/wait-for-lock"))
        await _until_running(engine, pid, "pg_advisory_xact_lock")  # the only connection
        response = await client.get(portfolio_path)
        assert_unavailable(response, "no database connection became free in time")
        # The health check has its own connection: the database itself is fine.
        assert (await client.get("/health/db")).status_code == 200
        await lock_holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": HELD_LOCK})
    assert (await holder).status_code == 200
    assert (await client.get(portfolio_path)).status_code == 200


async def test_statement_past_the_time_limit_is_503_and_the_connection_is_reused(
    database: TestDatabase, open_app: OpenApp, portfolio_path: str
) -> None:
    settings = FAST.model_copy(update={"db_pool_size": 1})
    _, client = await open_app(database.async_url, settings)
    before = (await client.get("/probe/backend-pid")).json()["pid"]
    response = await client.get("/probe/sleep", params={"seconds": 5})
    assert_unavailable(response, "ran past its time limit")
    assert (await client.get(portfolio_path)).status_code == 200
    # The server cancelled the statement; the connection itself stayed in the pool.
    assert (await client.get("/probe/backend-pid")).json()["pid"] == before


async def _until_running(engine: AsyncEngine, pid: int, call: str) -> None:
    """Wait until backend ``pid`` runs the probe's ``call`` (pg_sleep, a lock wait)."""
    async with engine.connect() as admin:
        for _ in range(200):
            query = await admin.scalar(
                text("SELECT query FROM pg_stat_activity WHERE pid = :pid AND state = 'active'"),
                {"pid": pid},
            )
            if query and call in query:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"backend {pid} never started {call}")


async def _sql(db: TestDatabase, statement: str) -> None:
    eng = create_async_engine(db.async_url)
    try:
        async with eng.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await eng.dispose()
