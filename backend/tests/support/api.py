"""The app under test: create_app() on the module's test database, lifespan running, an
httpx client talking to it in-process over ASGI (signed in as the module says), the SQL
statements the app runs during a test, and a walk through a keyset-paginated list.

The app opens its own connections, so API tests commit their seed data (each module has
its own database, dropped afterwards) instead of using the rolled-back ``session``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.main import create_app
from devtools.databases import TestDatabase
from tests.support.auth import bearer
from tests.support.statements import recorded_statements


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(database: TestDatabase) -> AsyncIterator[FastAPI]:
    application = create_app(database.async_url)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def api_client(
    app: FastAPI, headers: Mapping[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to ``app`` in-process; ``headers`` go with every request
    (``signed_in`` for a signed-in one)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as http:
        yield http


def signed_in(app: FastAPI, user_id: uuid.UUID) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """An in-process client signed in as ``user_id``: every request carries a bearer token
    the app under test accepts (``tests.support.auth``)."""
    return api_client(app, bearer(user_id))


async def all_pages(
    client: httpx.AsyncClient, path: str, *, limit: int, field: str = "id", **params: str
) -> list[list[Any]]:
    """Walk a keyset-paginated list from its first page, following ``next_cursor`` until
    there is none: each page's items' ``field``, page by page. Every page must answer 200;
    a walk of 100 pages is taken for one that never ends."""
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item[field] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not terminate"


@pytest.fixture
def statements(app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement the app runs while the test does."""
    with recorded_statements(app.state.engine) as seen:
        yield seen


@pytest.fixture
def signed_in_as() -> uuid.UUID | None:
    """Who ``client`` is signed in as: nobody. A module whose seed has an owner overrides
    this fixture (``return seed.owner``) to make every ``client`` request theirs."""
    return None


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI, signed_in_as: uuid.UUID | None) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of ``app``, signed in as ``signed_in_as`` (nobody by default)."""
    async with api_client(app, None if signed_in_as is None else bearer(signed_in_as)) as http:
        yield http


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seed_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose commits stay for the rest of the module (the app must see them)."""
    async with AsyncSession(engine, expire_on_commit=False) as db:
        yield db
