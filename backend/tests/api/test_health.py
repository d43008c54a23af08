"""GET /health and /health/db: liveness, and the database's Alembic revision against head
(the revisions themselves for a signed-in caller only)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import create_engine, text

from app.main import create_app
from devtools.databases import PostgresServer, TestDatabase, subprocess_env
from devtools.processes import free_port, uvicorn_app
from tests.support.auth import bearer
from tests.support.revisions import chain, migrate_to, revision_for


@pytest_asyncio.fixture(loop_scope="session")
async def client_for() -> AsyncIterator[object]:
    """Clients for apps bound to other databases than the module's (lifespans closed after)."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:

        async def open_client(url: object) -> httpx.AsyncClient:
            app = create_app(url)  # type: ignore[arg-type]
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://testserver")
            )

        yield open_client


BEHIND_AT = "add_token_version_to_users"
"""Behind head, yet able to check a token (users.token_version exists)."""
OLDER = "add_sector_concentration_to_snapshots"
"""Behind head from before sign-in: no token can be checked there."""


@pytest.fixture
def behind_database(pg_server: PostgresServer) -> Iterator[TestDatabase]:
    """A database migrated only up to BEHIND_AT."""
    db = pg_server.create_database("rm_behind")
    migrate_to(db.sync_url, revision_for(BEHIND_AT).revision)
    yield db
    pg_server.drop_database(db.name)


def _user_in(db: TestDatabase) -> dict[str, str]:
    """A user of ``db`` and the Authorization header of a token of theirs."""
    engine = create_engine(db.sync_url)
    try:
        with engine.begin() as conn:
            user_id = conn.execute(
                text(
                    "INSERT INTO users (email, password_hash) "
                    "VALUES ('ops@example.com', 'x') RETURNING id"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return bearer(user_id)


async def test_liveness_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_db_health_at_head_reports_ok_and_the_revisions_to_a_signed_in_caller(
    client: httpx.AsyncClient, database: TestDatabase
) -> None:
    head = chain()[-1].revision
    anonymous = await client.get("/health/db")
    assert anonymous.status_code == 200
    assert anonymous.json() == {
        "status": "ok",
        "reachable": True,
        "current_revisions": None,
        "head_revisions": None,
        "pending": None,
        "detail": None,
    }
    signed_in = await client.get("/health/db", headers=_user_in(database))
    assert signed_in.status_code == 200
    body = signed_in.json()
    assert body["status"] == "ok"
    assert body["current_revisions"] == [head]
    assert body["head_revisions"] == [head]
    assert body["pending"] == []


async def test_db_health_behind_head_is_503_with_retry_after_and_lists_pending_when_signed_in(
    behind_database: TestDatabase, client_for: object
) -> None:
    revisions = [s.revision for s in chain()]
    at = revisions.index(revision_for(BEHIND_AT).revision)
    client = await client_for(behind_database.async_url)  # type: ignore[operator]
    anonymous = await client.get("/health/db")
    assert anonymous.status_code == 503
    assert anonymous.headers["Retry-After"] == "30"
    assert anonymous.json()["status"] == "behind"
    assert anonymous.json()["pending"] is None
    for revision in revisions:
        assert revision not in anonymous.text

    response = await client.get("/health/db", headers=_user_in(behind_database))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    body = response.json()
    assert body["status"] == "behind"
    assert body["reachable"] is True
    assert body["current_revisions"] == [revisions[at]]
    assert [p["revision"] for p in body["pending"]] == revisions[at + 1 :]


async def test_db_health_behind_sign_in_itself_tells_no_revisions(
    pg_server: PostgresServer, client_for: object
) -> None:
    db = pg_server.create_database("rm_older")
    try:
        migrate_to(db.sync_url, revision_for(OLDER).revision)
        client = await client_for(db.async_url)  # type: ignore[operator]
        response = await client.get("/health/db", headers=bearer(uuid.uuid4()))
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert response.json()["status"] == "behind"
        assert response.json()["pending"] is None
    finally:
        pg_server.drop_database(db.name)


async def test_db_health_on_an_empty_database_is_503(
    empty_database: TestDatabase, client_for: object
) -> None:
    client = await client_for(empty_database.async_url)  # type: ignore[operator]
    response = await client.get("/health/db")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    body = response.json()
    assert body["status"] == "behind"
    assert body["detail"] == "revisions pending: run `cd backend && uv run alembic upgrade head`"


async def test_db_health_stamped_with_an_unknown_revision_is_503(
    pg_server: PostgresServer, migrated_template: str, client_for: object
) -> None:
    db = pg_server.create_database("rm_unknown", template=migrated_template)
    try:
        signed_in = _user_in(db)
        engine = create_engine(db.sync_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'feedfacecafe'"))
        engine.dispose()
        client = await client_for(db.async_url)  # type: ignore[operator]
        anonymous = await client.get("/health/db")
        assert anonymous.status_code == 503
        assert anonymous.headers["Retry-After"] == "30"
        assert anonymous.json()["status"] == "unknown_revision"
        assert "feedfacecafe" not in anonymous.text

        response = await client.get("/health/db", headers=signed_in)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unknown_revision"
        assert body["current_revisions"] == ["feedfacecafe"]
        assert "feedfacecafe" in body["detail"]
    finally:
        pg_server.drop_database(db.name)


async def test_db_health_unreachable_is_503_without_the_password(client_for: object) -> None:
    # Nothing listens on this port: the connection is refused at once.
    url = f"postgresql://risk:hunter2-secret@127.0.0.1:{free_port()}/risk"
    client = await client_for(url)  # type: ignore[operator]
    response = await client.get("/health/db")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    assert body["status"] == "unreachable"
    assert body["reachable"] is False
    assert "hunter2-secret" not in response.text

    # Data endpoints fail the same way: 503 JSON, no driver text, no password.
    data = await client.get("/api/v1/benchmarks/SP500/sector-weights")
    assert data.status_code == 503
    assert data.headers["Retry-After"] == "5"
    assert data.json() == {
        "detail": "database unavailable: the database server refused the connection; "
        "try again later"
    }
    assert "hunter2-secret" not in data.text


@pytest.mark.slow  # a child process
def test_uvicorn_serves_the_module_level_app(database: TestDatabase, tmp_path: Path) -> None:
    """The documented `uvicorn app.main:app`, run from backend/ with DATABASE_URL set."""
    log = tmp_path / "uvicorn.log"
    with uvicorn_app(subprocess_env(database), log) as base:
        health = httpx.get(f"{base}/health", timeout=10)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        db_health = httpx.get(f"{base}/health/db", timeout=10)
        assert db_health.status_code == 200, db_health.text
        assert db_health.json()["status"] == "ok"
        docs = httpx.get(f"{base}/openapi.json", timeout=10)
        assert "/api/v1/portfolios/{portfolio_id}/risk" in docs.json()["paths"]
    output = log.read_text()
    assert "Application startup complete" in output
    assert "Traceback" not in output
