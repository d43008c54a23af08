"""Finding 7: ``/health/db``'s 503s carried no Retry-After (every other 503 does), and it
told unauthenticated callers the schema revision.

Replayed against the app on real PostgreSQL databases: one behind head, one that cannot
be reached.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.main import create_app
from devtools.databases import PostgresServer, TestDatabase
from devtools.processes import free_port
from tests.support.revisions import chain, migrate_to, revision_for


@pytest.fixture
def behind(pg_server: PostgresServer) -> Iterator[TestDatabase]:
    db = pg_server.create_database("rm_behind")
    migrate_to(db.sync_url, revision_for("create_users").revision)
    yield db
    pg_server.drop_database(db.name)


async def _health(url: object) -> httpx.Response:
    app = create_app(url)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.get("/health/db")


async def test_finding_7_behind_head_is_503_with_retry_after_and_no_revisions(
    behind: TestDatabase,
) -> None:
    response = await _health(behind.async_url)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json()["status"] == "behind"
    for script in chain():
        assert script.revision not in response.text


async def test_finding_7_unreachable_is_503_with_retry_after() -> None:
    response = await _health(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["status"] == "unreachable"
    for script in chain():
        assert script.revision not in response.text
