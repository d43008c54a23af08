"""Liveness and database health (reachability and migration status).

``/health/db`` is open, so it tells an anonymous caller only whether the database serves
(status, reachable, a detail without revision ids); the revisions (current, heads,
pending) go to a signed-in caller only. Its 503s carry Retry-After like every other 503.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api.deps import bearer_token
from app.api.schemas import DatabaseHealth, Liveness, PendingRevision
from app.core.errors import (
    MIGRATE_HINT,
    DatabaseUnavailableError,
    NotAuthenticatedError,
    SchemaNotAtHeadError,
    database_unavailable,
)
from app.core.security import TokenClaims, TokenSigner
from app.migrations.status import (
    MigrationStatus,
    SchemaGate,
    describe,
    migration_status_of,
)
from app.users.repository import token_is_current

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/health", tags=["health"])

# A health probe must answer promptly even when the database hangs.
DB_CHECK_TIMEOUT_SECONDS = 5.0


@router.get("", response_model=Liveness, summary="Liveness: the process is serving requests")
async def liveness() -> Liveness:
    return Liveness()


async def _signed_in(connection: AsyncConnection, claims: TokenClaims | None) -> bool:
    """Whether the token is current, asked on the probe's own connection (never the
    request pool's). A schema too old to tell counts as not signed in."""
    if claims is None:
        return False
    try:
        return await token_is_current(connection, claims)
    except DBAPIError as exc:
        logger.info("/health/db could not check a token: %s", type(exc).__name__)
        return False


async def _probe(engine: AsyncEngine, claims: TokenClaims | None) -> tuple[MigrationStatus, bool]:
    async with asyncio.timeout(DB_CHECK_TIMEOUT_SECONDS), engine.connect() as connection:
        found = await migration_status_of(connection)
        return found, await _signed_in(connection, claims)


def _claims(request: Request) -> TokenClaims | None:
    token = bearer_token(request)
    if token is None:
        return None
    signer: TokenSigner = request.app.state.token_signer
    try:
        return signer.verify(token)
    except NotAuthenticatedError:  # an open route: a bad token only means no details
        return None


def _unavailable(response: Response, retry_after: int | None) -> None:
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    response.headers["Retry-After"] = str(retry_after)


@router.get(
    "/db",
    response_model=DatabaseHealth,
    summary="Database reachable and schema at the Alembic head",
    description=(
        "Opens its own connection (not one of the request pool's), so it reports on the "
        "database even while every pooled connection is busy. 503 (with Retry-After) when "
        "unreachable, behind head or stamped with an unknown revision; never 500. The "
        "revisions are listed for a signed-in caller only (null otherwise)."
    ),
    responses={
        503: {
            "model": DatabaseHealth,
            "description": "Unreachable or behind head",
            "headers": {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            },
        }
    },
)
async def database_health(request: Request, response: Response) -> DatabaseHealth:
    claims = _claims(request)
    try:
        found, signed_in = await _probe(request.app.state.probe_engine, claims)
    except Exception as exc:  # any failure of the probe means unhealthy, never a 500
        reason = database_unavailable(exc)
        if reason is None:
            logger.exception("database health check failed", exc_info=exc)
            reason = f"the check failed ({type(exc).__name__})"
        else:
            # The driver's text can name hosts; keep it in the log, answer with the reason.
            logger.warning("database health check failed: %s", type(exc).__name__)
        _unavailable(response, DatabaseUnavailableError.http_retry_after)
        return DatabaseHealth(
            status="unreachable",
            reachable=False,
            current_revisions=None,
            head_revisions=None,
            pending=None,
            detail=f"database unreachable: {reason}",
        )
    gate: SchemaGate = request.app.state.schema_gate
    gate.record(found)
    if found.unknown:
        state = "unknown_revision"
        detail = "the database is stamped with a revision unknown to this code"
        if signed_in:
            detail = f"database is at revision(s) {', '.join(found.unknown)} unknown to this code"
    elif found.pending:
        state, detail = "behind", f"revisions pending: {MIGRATE_HINT}"
        if signed_in:
            detail = f"{len(found.pending)} revision(s) pending: {MIGRATE_HINT}"
    else:
        state, detail = "ok", None
    if state != "ok":
        _unavailable(response, SchemaNotAtHeadError.http_retry_after)
    if not signed_in:
        return DatabaseHealth(status=state, reachable=True, detail=detail)
    return DatabaseHealth(
        status=state,
        reachable=True,
        current_revisions=list(found.current),
        head_revisions=list(found.heads),
        pending=[
            PendingRevision(revision=s.revision, description=describe(s)) for s in found.pending
        ],
        detail=detail,
    )
