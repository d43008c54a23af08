"""Turn a migration's lock timeout into a message that names who holds the lock."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.config import get_settings
from app.models import Base

_BLOCKERS = text(
    """
    SELECT l.relation::regclass::text AS relation, l.mode, a.pid, a.state,
           date_trunc('second', now() - coalesce(a.xact_start, a.query_start)) AS held_for,
           left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120) AS query
    FROM pg_locks l
    JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.granted AND l.locktype = 'relation'
      AND a.pid <> pg_backend_pid()
      AND l.relation::regclass::text = ANY(:tables)
    ORDER BY a.xact_start NULLS LAST
    """
)


def _tables_in(statement: str) -> list[str]:
    """Tables the statement names, directly or through one of their indexes/constraints
    (``DROP INDEX idx_snapshots_beta`` waits for a lock on portfolio_snapshots)."""
    words = set(re.findall(r"\w+", statement))
    found = ["alembic_version"] if "alembic_version" in words else []
    for table in Base.metadata.tables.values():
        names = {table.name, *(i.name for i in table.indexes), *(c.name for c in table.constraints)}
        if words & {str(n) for n in names if n}:
            found.append(table.name)
    return found


def describe_lock_failure(engine: Engine, exc: DBAPIError) -> str:
    settings = get_settings()
    statement = " ".join(str(exc.statement or "").split())
    timed_out = getattr(exc.orig, "pgcode", None) == "55P03"
    reason = (
        f"could not get a lock within lock_timeout={settings.migration_lock_timeout}"
        if timed_out
        else f"a statement ran past statement_timeout={settings.migration_statement_timeout}"
    )
    lines = [f"Migration stopped: {reason}.", f"  Statement: {statement[:200]}"]
    try:
        with engine.connect() as conn:
            blockers = conn.execute(_BLOCKERS, {"tables": _tables_in(statement)}).all()
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        blockers, current = [], []
    if blockers:
        lines.append("  Held by:")
        lines += [
            f"    pid {b.pid} holds {b.mode} on {b.relation} ({b.state}, for {b.held_for}): "
            f"{b.query}"
            for b in blockers
        ]
    elif timed_out:
        lines.append(
            "  Held by: a transaction that has since ended, or (for CREATE INDEX CONCURRENTLY) "
            "any long-running transaction in this database."
        )
    lines.append(
        f"  The failed revision's transaction was rolled back; alembic current is "
        f"{', '.join(current) or 'base'}."
    )
    lines.append(
        "  End the blocking transaction (or wait for a quieter moment) and re-run the "
        "same alembic command; an interrupted revision resumes safely. "
        "MIGRATION_LOCK_TIMEOUT sets the wait."
    )
    return "\n".join(lines)
