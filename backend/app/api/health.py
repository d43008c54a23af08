"""Liveness and database health (reachability and migration status)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.schemas import DatabaseHealth, Liveness, PendingRevision
from app.core.errors import MIGRATE_HINT, database_unavailable
from app.migrations.status import (
    MigrationStatus,
    SchemaGate,
    describe,
    migration_status_of,
    script_directory,
)

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/health", tags=["health"])

# A health probe must answer promptly even when the database hangs.
DB_CHECK_TIMEOUT_SECONDS = 5.0


@router.get("", response_model=Liveness, summary="Liveness: the process is serving requests")
async def liveness() -> Liveness:
    return Liveness()


async def _probe(engine: AsyncEngine) -> MigrationStatus:
    async with asyncio.timeout(DB_CHECK_TIMEOUT_SECONDS), engine.connect() as connection:
        return await migration_status_of(connection)


@router.get(
    "/db",
    response_model=DatabaseHealth,
    summary="Database reachable and schema at the Alembic head",
    description=(
        "Opens its own connection (not one of the request pool's), so it reports on the "
        "database even while every pooled connection is busy. 503 when unreachable, behind "
        "head or stamped with an unknown revision; never 500."
    ),
    responses={503: {"model": DatabaseHealth, "description": "Unreachable or behind head"}},
)
async def database_health(request: Request, response: Response) -> DatabaseHealth:
    try:
        found = await _probe(request.app.state.probe_engine)
    except Exception as exc:  # any failure of the probe means unhealthy, never a 500
        reason = database_unavailable(exc)
        if reason is None:
            logger.exception("database health check failed", exc_info=exc)
            reason = f"the check failed ({type(exc).__name__})"
        else:
            # The driver's text can name hosts; keep it in the log, answer with the reason.
            logger.warning("database health check failed: %s", type(exc).__name__)
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return DatabaseHealth(
            status="unreachable",
            reachable=False,
            current_revisions=[],
            head_revisions=list(script_directory().get_heads()),
            pending=[],
            detail=f"database unreachable: {reason}",
        )
    gate: SchemaGate = request.app.state.schema_gate
    gate.record(found)
    if found.unknown:
        state, detail = (
            "unknown_revision",
            (f"database is at revision(s) {', '.join(found.unknown)} unknown to this code"),
        )
    elif found.pending:
        state, detail = "behind", f"{len(found.pending)} revision(s) pending: {MIGRATE_HINT}"
    else:
        state, detail = "ok", None
    if state != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
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
