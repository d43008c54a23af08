"""The FastAPI application: ``cd backend && uv run uvicorn app.main:app``.

Importing this module builds the app but touches no database: the engines (and, with
DATABASE_URL unset, the embedded PostgreSQL) are started by the lifespan and disposed with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy.engine import URL

from app.api.errors import install_error_handlers
from app.api.router import router
from app.config import Settings, get_settings
from app.core import db as database
from app.core.errors import database_unavailable
from app.core.redaction import safe_url
from app.migrations.status import SchemaGate, behind_head_message

logger = logging.getLogger("app")


async def _warn_unless_at_head(gate: SchemaGate, url: URL) -> None:
    """Say at start-up what the requests will meet: a schema behind head, or no database.
    Neither stops the app: it serves 503s until the database is back or migrated."""
    try:
        found = await gate.check()
    except Exception as exc:
        reason = database_unavailable(exc) or type(exc).__name__
        logger.warning(
            "database %s not usable at start-up (%s): requests answer 503 until it is",
            safe_url(url),
            reason,
        )
        return
    if found.pending:
        logger.warning("%s (data requests answer 503 until then)", behind_head_message(found))


def create_app(database_url: URL | str | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app; ``database_url`` overrides DATABASE_URL / the embedded default,
    ``settings`` the environment's settings (pool, timeouts, CORS)."""
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if database_url is None:
            # May start the embedded server: blocking work, so off the event loop.
            url = await asyncio.to_thread(database.database_url, database.ASYNC_DRIVER)
        else:
            url = database.with_driver(database_url, database.ASYNC_DRIVER)
        engine = database.create_request_engine(url, config)
        probe_engine = database.create_probe_engine(url, config)
        app.state.engine = engine
        app.state.sessionmaker = database.create_sessionmaker(engine)
        app.state.read_sessionmaker = database.create_read_sessionmaker(engine)
        app.state.connection_queue = database.create_connection_queue(config)
        app.state.probe_engine = probe_engine
        app.state.schema_gate = SchemaGate(probe_engine)
        logger.info("database: %s", safe_url(url))
        await _warn_unless_at_head(app.state.schema_gate, url)
        try:
            yield
        finally:
            await engine.dispose()
            await probe_engine.dispose()
            if database_url is None:
                await asyncio.to_thread(database.release_embedded_servers)

    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from files shipped in the
    # fastapi-offline package (served under /static-offline-docs), never from a CDN.
    app = FastAPIOffline(
        title="Risk metrics API",
        version="1.0.0",
        summary="Market beta, sector exposure and volatility of portfolios and positions.",
        description=(
            "Read API over the risk-metrics tables. Decimal values are JSON strings in plain "
            'notation carrying the stored scale (e.g. "0.280000"); parse them as decimals. '
            "Errors are JSON objects with a `detail` message. 503 means the database is "
            "unavailable, busy or not migrated: retry after the `Retry-After` seconds."
        ),
        lifespan=lifespan,
        # Swagger UI's default validator badge calls a public service for every page view.
        swagger_ui_parameters={"validatorUrl": None},
    )
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            # Bearer tokens travel in Authorization, never in cookies: no credentials mode.
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    install_error_handlers(app)
    app.include_router(router)
    return app


app = create_app()
