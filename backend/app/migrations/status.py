"""Where the database stands against the Alembic revision chain shipped with this code.

The same facts as ``alembic current`` / ``alembic heads``, read over the app's own async
connection (Alembic's MigrationContext is synchronous, hence ``run_sync``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError, to_tuple
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import BACKEND_DIR
from app.core.errors import MIGRATE_HINT, SchemaNotAtHeadError


@dataclass(frozen=True)
class MigrationStatus:
    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: tuple[Script, ...]
    """Revisions between current and head, oldest first."""
    unknown: tuple[str, ...]
    """Revisions the database is stamped with that this code does not know."""


@lru_cache
def script_directory() -> ScriptDirectory:
    """The revision scripts under backend/alembic/versions (read once per process)."""
    return ScriptDirectory.from_config(Config(str(BACKEND_DIR / "alembic.ini")))


def describe(script: Script) -> str:
    """A revision's message (first line of its docstring), as `alembic history` shows it."""
    lines = (script.doc or "").strip().splitlines()
    return lines[0] if lines else ""


def _ancestry(script: ScriptDirectory, revisions: Iterable[str]) -> set[str]:
    """The given revisions and everything they depend on, down to base."""
    seen: set[str] = set()
    stack = list(revisions)
    while stack:
        revision = stack.pop()
        if revision in seen:
            continue
        seen.add(revision)
        node = script.get_revision(revision)
        if node is not None:
            stack.extend(to_tuple(node.down_revision, default=()))
    return seen


def compare(script: ScriptDirectory, current: Sequence[str]) -> MigrationStatus:
    """Pure comparison of a database's current revisions with the script directory."""
    known = {s.revision for s in script.walk_revisions()}
    unknown = tuple(rev for rev in current if rev not in known)
    heads = tuple(script.get_heads())
    if unknown:
        return MigrationStatus(tuple(current), heads, (), unknown)
    applied = _ancestry(script, current)
    needed = _ancestry(script, heads)
    oldest_first = reversed(list(script.walk_revisions()))
    pending = tuple(s for s in oldest_first if s.revision in needed - applied)
    return MigrationStatus(tuple(current), heads, pending, ())


def _current_heads(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def migration_status_of(connection: AsyncConnection) -> MigrationStatus:
    """Read the database's alembic_version and compare it with the shipped revisions."""
    current = await connection.run_sync(_current_heads)
    try:
        return compare(script_directory(), current)
    except CommandError as exc:  # a malformed chain on disk is a deployment error
        raise RuntimeError(f"cannot read the Alembic revision scripts: {exc}") from exc


def behind_head_message(found: MigrationStatus) -> str:
    return (
        f"the database schema is behind this code: {len(found.pending)} revision(s) pending; "
        f"{MIGRATE_HINT}"
    )


class SchemaGate:
    """Holds back requests while the database is known to be behind head.

    Once the schema was seen at head (or ahead of it: a database migrated by a newer
    release keeps serving this one), requests pass without a query. While it is behind,
    or unknown, alembic_version is re-read at most every ``recheck_seconds`` by one request
    at a time, so an upgrade is noticed without restarting the app. Only a schema known
    to be behind is refused; an unreachable database is left to fail the request itself.
    """

    def __init__(self, engine: AsyncEngine, *, recheck_seconds: float = 5.0) -> None:
        self._engine = engine
        self._recheck_seconds = recheck_seconds
        self._found: MigrationStatus | None = None
        self._checked_at = -float("inf")
        self._checking = asyncio.Lock()

    def _serving(self) -> bool:
        return self._found is not None and not self._found.pending

    def record(self, found: MigrationStatus) -> None:
        """What a check (this gate's or /health/db's) found."""
        self._found = found
        self._checked_at = time.monotonic()

    def forget(self) -> None:
        """The database failed a query in a way that says its schema changed: look again."""
        self._found = None
        self._checked_at = -float("inf")

    async def check(self) -> MigrationStatus:
        self._checked_at = time.monotonic()  # a failing check is throttled too
        async with self._engine.connect() as connection:
            found = await migration_status_of(connection)
        self.record(found)
        return found

    async def require_head(self) -> None:
        if self._serving():
            return
        due = time.monotonic() - self._checked_at >= self._recheck_seconds
        if due and not self._checking.locked():
            async with self._checking:
                await self.check()
        if self._found is not None and self._found.pending:
            raise SchemaNotAtHeadError(behind_head_message(self._found))
