"""The FastAPI application: ``cd backend && uv run uvicorn app.main:app``.

Importing this module builds the app but touches no database and writes nothing: the
engines (and, with DATABASE_URL unset, the embedded PostgreSQL and its generated signing
key) are started by the lifespan and disposed with it. A configuration that cannot work
(DATABASE_URL set without AUTH_SECRET_KEY) stops the import with one line and exit 2.
Imported by uvicorn, it also puts uvicorn's protocol under the request policy
(app.api.protocols).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import ValidationError
from sqlalchemy.engine import URL
from starlette.types import ASGIApp

from app.api.docs import install_docs
from app.api.errors import install_error_handlers
from app.api.middleware import RequestPolicy
from app.api.protocols import adopt_loading_uvicorn_config
from app.api.router import router
from app.config import Settings, get_settings
from app.core import db as database
from app.core import embedded_postgres, security
from app.core.errors import EXIT_USAGE_ERROR, ConfigurationError, database_unavailable
from app.core.redaction import install_access_log_redaction, safe_url
from app.dashboard.routes import mount_dashboard
from app.migrations.status import SchemaGate, behind_head_message
from app.users.throttle import SignInThrottle

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


class RiskApi(FastAPI):
    """FastAPI with the request policy (app.api.middleware) outside all of Starlette's own
    layers, its error middleware included: every response passes through it, 500s too."""

    def __init__(self, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request_settings = settings

    def build_middleware_stack(self) -> ASGIApp:
        return RequestPolicy(
            super().build_middleware_stack(),
            max_body_bytes=self.request_settings.max_request_body_bytes,
            trusted_proxies=self.request_settings.trusted_proxies,
        )


def create_app(database_url: URL | str | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app; ``database_url`` overrides DATABASE_URL / the embedded default,
    ``settings`` the environment's settings (pool, timeouts, CORS, sign-in).

    Raises ConfigurationError when no signing key can be had (DATABASE_URL or
    ``database_url`` given, AUTH_SECRET_KEY unset or too short).
    """
    config = settings or get_settings()
    embedded = database_url is None and config.database_url is None
    key_source = security.signing_key_source(config, embedded=embedded)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if database_url is None:
            # May start the embedded server: blocking work, so off the event loop.
            url = await asyncio.to_thread(database.database_url, database.ASYNC_DRIVER)
        else:
            url = database.with_driver(database_url, database.ASYNC_DRIVER)
        key = await asyncio.to_thread(security.load_signing_key, key_source)
        app.state.token_signer = security.TokenSigner(key, config.auth_token_minutes)
        await asyncio.to_thread(security.prepare_dummy_hash)
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
                await asyncio.to_thread(embedded_postgres.release_embedded_servers)

    app = RiskApi(
        settings=config,
        # Served by app.api.docs: offline, each page under its own Content-Security-Policy.
        docs_url=None,
        redoc_url=None,
        title="Risk metrics API",
        version="1.0.0",
        summary="Market beta, sector exposure and volatility of portfolios and positions.",
        description=(
            "Read API over the risk-metrics tables. Portfolio and position data need a bearer "
            "token from `POST /api/v1/auth/token` (email as `username`, and password) and "
            "show only the signed-in user's portfolios; benchmark weights and health are "
            "open. Decimal values are JSON strings in plain notation carrying the stored "
            'scale (e.g. "0.280000"); parse them as decimals. Errors are JSON objects with '
            "a `detail` message. 503 means the database is unavailable, busy or not "
            "migrated: retry after the `Retry-After` seconds."
        ),
        lifespan=lifespan,
        # Swagger UI's default validator badge calls a public service for every page view.
        swagger_ui_parameters={"validatorUrl": None},
    )
    # Counts in the database: every worker and host sees the same (app.users.throttle).
    app.state.sign_in_throttle = SignInThrottle()
    install_access_log_redaction()
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
    install_docs(app)
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


adopt_loading_uvicorn_config()
app = _configured_app()
