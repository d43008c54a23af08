"""Liveness and database health (reachability and migration status)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response, status
from sqlalchemy.exc import DBAPIError

from app.api.deps import SessionDep
from app.api.schemas import DatabaseHealth, Liveness, PendingRevision
from app.core.errors import DATABASE_UNAVAILABLE
from app.migrations.status import describe, migration_status, script_directory

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/health", tags=["health"])

# Any database failure of the probe means unhealthy, not only "unavailable" ones.
PROBE_FAILURES: tuple[type[Exception], ...] = (*DATABASE_UNAVAILABLE, DBAPIError)
# A health probe must answer promptly even when the database hangs.
DB_CHECK_TIMEOUT_SECONDS = 5.0


@router.get("", response_model=Liveness, summary="Liveness: the process is serving requests")
async def liveness() -> Liveness:
    return Liveness()


@router.get(
    "/db",
    response_model=DatabaseHealth,
    summary="Database reachable and schema at the Alembic head",
    responses={503: {"model": DatabaseHealth, "description": "Unreachable or behind head"}},
)
async def database_health(session: SessionDep, response: Response) -> DatabaseHealth:
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_SECONDS):
            found = await migration_status(session)
    except PROBE_FAILURES as exc:
        # The driver's text can name hosts; keep it in the log, answer with the class only.
        logger.warning("database health check failed: %s", type(exc).__name__)
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return DatabaseHealth(
            status="unreachable",
            reachable=False,
            current_revisions=[],
            head_revisions=list(script_directory().get_heads()),
            pending=[],
            detail=f"database unreachable ({type(exc).__name__})",
        )
    if found.unknown:
        state, detail = (
            "unknown_revision",
            (f"database is at revision(s) {', '.join(found.unknown)} unknown to this code"),
        )
    elif found.pending:
        state, detail = "behind", f"{len(found.pending)} revision(s) pending: run alembic upgrade"
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
