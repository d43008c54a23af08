"""The FastAPI application: ``cd backend && uv run uvicorn app.main:app``.

Importing this module builds the app but touches no database and writes nothing: the
engine (and, with DATABASE_URL unset, the embedded PostgreSQL and its generated signing
key) is started by the lifespan and disposed with it. A configuration that cannot work
(DATABASE_URL set without AUTH_SECRET_KEY) stops the import with one line and exit 2.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.engine import URL

from app.api.errors import install_error_handlers
from app.api.router import router
from app.config import get_settings
from app.core import db as database
from app.core import security
from app.core.errors import EXIT_USAGE_ERROR, ConfigurationError
from app.core.redaction import safe_url
from app.dashboard.routes import mount_dashboard
from app.users.throttle import LoginThrottle

logger = logging.getLogger("app")

# asyncpg waits 60 s for a connection by default; a request should fail sooner.
CONNECT_TIMEOUT_SECONDS = 10


def create_app(database_url: URL | str | None = None) -> FastAPI:
    """Build the app; ``database_url`` overrides DATABASE_URL / the embedded default.

    Raises ConfigurationError when no signing key can be had (DATABASE_URL or
    ``database_url`` given, AUTH_SECRET_KEY unset or too short).
    """
    settings = get_settings()
    embedded = database_url is None and settings.database_url is None
    key_source = security.signing_key_source(settings, embedded=embedded)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if database_url is None:
            # May start the embedded server: blocking work, so off the event loop.
            url = await asyncio.to_thread(database.database_url, database.ASYNC_DRIVER)
        else:
            url = database.with_driver(database_url, database.ASYNC_DRIVER)
        key = await asyncio.to_thread(security.load_signing_key, key_source)
        app.state.token_signer = security.TokenSigner(key, settings.auth_token_minutes)
        await asyncio.to_thread(security.prepare_dummy_hash)
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
            "Read API over the risk-metrics tables. Portfolio and position data need a bearer "
            "token from `POST /api/v1/auth/token` (email as `username`, and password) and "
            "show only the signed-in user's portfolios; benchmark weights and health are "
            "open. Decimal values are JSON strings in plain notation carrying the stored "
            'scale (e.g. "0.280000"); parse them as decimals. Errors are JSON objects with '
            "a `detail` message."
        ),
        lifespan=lifespan,
    )
    # Per process: each worker counts failed sign-ins on its own (app.users.throttle).
    app.state.login_throttle = LoginThrottle()
    install_error_handlers(app)
    app.include_router(router)
    mount_dashboard(app)
    return app


def _configured_app() -> FastAPI:
    # uvicorn imports this module: one line and exit 2 instead of an import traceback.
    try:
        return create_app()
    except ConfigurationError as exc:
        message = str(exc)
    except ValidationError as exc:  # name the fields only: the values may be secrets
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        message = f"invalid configuration in environment/.env: {fields}"
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE_ERROR)


app = _configured_app()
