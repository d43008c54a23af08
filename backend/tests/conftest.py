"""Shared fixtures: a real PostgreSQL for every test, never the DATABASE_URL database.

Once per run a template database is migrated to head; each test module gets a clone of
it, and each test runs inside an outer transaction that is rolled back afterwards (code
under test may still commit: its commits release savepoints). Databases are dropped on a
thread of their own, while the next tests run.

Each test that does not use ``pg_server`` is marked ``server_independent``: it touches no
database on the run's server, so a second run on another server need not repeat it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from devtools.databases import (
    PostgresServer,
    TestDatabase,
    alembic_config,
    resolve_server,
)
from tests.support.auth import TEST_SIGNING_KEY

# Fixtures shared across test packages: a fake FMP over HTTP, and the app under test.
pytest_plugins = ("tests.support.fake_fmp", "tests.support.api")

# Guard: anything that falls back to app settings in-process fails loudly instead of
# reaching a developer's real database (DATABASE_URL / backend/.env).
os.environ["DATABASE_URL"] = "postgresql://tests-must-not-use-settings@127.0.0.1:9/none"
os.environ["FMP_API_KEY"] = ""
# The app needs a signing key when DATABASE_URL is set (child processes inherit it).
os.environ["AUTH_SECRET_KEY"] = TEST_SIGNING_KEY
# Argon2 at its cheapest, here and in child processes: each production-cost hash takes
# 0.1-0.25 s of CPU, and the suite makes hundreds. Production's profile is tested on its own.
os.environ["PASSWORD_HASH_PROFILE"] = "CHEAPEST"


def _clear_settings_cache() -> None:
    from app.config import get_settings

    get_settings.cache_clear()


_clear_settings_cache()


def pytest_configure(config: pytest.Config) -> None:
    """Compile the project's modules once, before any worker or child process starts.

    Python reads bytecode even where PYTHONDONTWRITEBYTECODE keeps it from writing any;
    without this, every CLI, Alembic and uvicorn child would compile app/ from source.
    """
    if hasattr(config, "workerinput"):  # an xdist worker: the controller did it
        return
    import compileall

    from app.config import BACKEND_DIR

    for package in ("app", "scripts", "alembic"):
        compileall.compile_dir(BACKEND_DIR / package, quiet=1)


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``server_independent`` each test whose fixtures do not include ``pg_server``.

    Every database the suite's fixtures give comes from ``pg_server``; a test without it
    reaches no database on the run's server (pure code, or an embedded server it starts
    itself, which is the same in every run), so its outcome cannot depend on that server.
    """
    for item in items:
        if "pg_server" not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server_independent)


def pytest_report_header(config: pytest.Config) -> str:
    source = (
        os.environ.get("TEST_DATABASE_URL") and "TEST_DATABASE_URL"
    ) or "testcontainers/embedded"
    return f"test database: {source}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with resolve_server() as server:
        yield server


@pytest.fixture(scope="session")
def drop_later(pg_server: PostgresServer) -> Iterator[Callable[[str], None]]:
    """Drops a database on a thread of its own; the session waits for every drop at its end.

    DROP DATABASE forces a checkpoint, which waits for the disk and takes several times as
    long as cloning the template: the next test need not wait for it.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="drop-database") as dropper:
        drops: list[Future[None]] = []
        yield lambda name: drops.append(dropper.submit(pg_server.drop_database, name))
    for drop in drops:
        drop.result()  # a failed drop fails the session, as it did in the test's teardown


@pytest.fixture(scope="session")
def migrated_template(pg_server: PostgresServer) -> Iterator[str]:
    template = pg_server.create_database("rm_template")
    command.upgrade(alembic_config(template.sync_url), "head")
    yield template.name
    pg_server.drop_database(template.name)


@pytest.fixture(scope="module")
def database(
    pg_server: PostgresServer, migrated_template: str, drop_later: Callable[[str], None]
) -> Iterator[TestDatabase]:
    """A database at head, fresh for this test module."""
    db = pg_server.create_database("rm_test", template=migrated_template)
    yield db
    drop_later(db.name)


@pytest.fixture
def empty_database(
    pg_server: PostgresServer, drop_later: Callable[[str], None]
) -> Iterator[TestDatabase]:
    """A database with no schema at all, fresh for this test (migration tests)."""
    db = pg_server.create_database("rm_empty")
    yield db
    drop_later(db.name)


@pytest.fixture
def empty_database_pair(
    pg_server: PostgresServer, drop_later: Callable[[str], None]
) -> Iterator[tuple[TestDatabase, TestDatabase]]:
    """Two databases with no schema, fresh for this test: one schema built two ways."""
    first = pg_server.create_database("rm_empty")
    second = pg_server.create_database("rm_empty")
    yield first, second
    drop_later(first.name)
    drop_later(second.name)


@pytest.fixture
def embedded_tmp_path() -> Iterator[Path]:
    """A new directory for an embedded server's data (and its neighbours), removed after
    the test; for tests that start a server, instead of ``tmp_path``.

    Not under pytest's temporary root: every pytest run that starts on the machine makes
    /tmp/pytest-of-<user> private to that user again (mode 0700), and as root the embedded
    server runs as the ``pgserver`` user, which then can no longer reach its own data
    directory (initdb: "Permission denied"; pg_ctl: no pgdata/log). The wheel opens the
    parents of a data directory once, at start; this directory's stay open.
    """
    path = Path(tempfile.mkdtemp(prefix="rm-embedded-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def engine(database: TestDatabase) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database.async_url, poolclass=NullPool)
    yield eng
    await eng.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back after the test, commits included."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        db = AsyncSession(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield db
        finally:
            await db.close()
            await outer.rollback()


@pytest_asyncio.fixture(loop_scope="session")
async def clean_tables(engine: AsyncEngine) -> AsyncIterator[None]:
    """For tests whose code under test opens its own connections (CLIs, concurrency):
    empties the data tables after the test instead of relying on rollback."""
    yield
    from app.models import Base

    # DELETE, children first, rather than TRUNCATE: these tests leave at most a few thousand
    # rows, which DELETE removes in milliseconds, while TRUNCATE's new files cost ~0.1 s.
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
