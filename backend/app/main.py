"""The FastAPI application: ``cd backend && uv run uvicorn app.main:app``.

Importing this module builds the app but touches no database: the engine (and, with
DATABASE_URL unset, the embedded PostgreSQL) is started by the lifespan and disposed with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import URL

from app.api.errors import install_error_handlers
from app.api.router import router
from app.core import db as database
from app.core.redaction import safe_url

logger = logging.getLogger("app")

# asyncpg waits 60 s for a connection by default; a request should fail sooner.
CONNECT_TIMEOUT_SECONDS = 10


def create_app(database_url: URL | str | None = None) -> FastAPI:
    """Build the app; ``database_url`` overrides DATABASE_URL / the embedded default."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if database_url is None:
            # May start the embedded server: blocking work, so off the event loop.
            url = await asyncio.to_thread(database.database_url, database.ASYNC_DRIVER)
        else:
            url = database.with_driver(database_url, database.ASYNC_DRIVER)
        engine = database.create_engine_for(url, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS})
        app.state.engine = engine
        app.state.sessionmaker = database.create_sessionmaker(engine)
        logger.info("database: %s", safe_url(url))
        try:
            yield
        finally:
            await engine.dispose()
            if database_url is None:
                await asyncio.to_thread(database.release_embedded_servers)

    app = FastAPI(
        title="Risk metrics API",
        version="1.0.0",
        summary="Market beta, sector exposure and volatility of portfolios and positions.",
        description=(
            "Read API over the risk-metrics tables. Decimal values are JSON strings in plain "
            'notation carrying the stored scale (e.g. "0.280000"); parse them as decimals. '
            "Errors are JSON objects with a `detail` message."
        ),
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(router)
    return app


app = create_app()
