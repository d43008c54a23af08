"""Where the database stands against the Alembic revision chain shipped with this code.

The same facts as ``alembic current`` / ``alembic heads``, read over the app's own async
connection (Alembic's MigrationContext is synchronous, hence ``run_sync``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError, to_tuple
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import BACKEND_DIR


@dataclass(frozen=True)
class MigrationStatus:
    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: tuple[Script, ...]
    """Revisions between current and head, oldest first."""
    unknown: tuple[str, ...]
    """Revisions the database is stamped with that this code does not know."""

    @property
    def at_head(self) -> bool:
        return not self.pending and not self.unknown and set(self.current) == set(self.heads)


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


async def migration_status(session: AsyncSession) -> MigrationStatus:
    """Read the database's alembic_version and compare it with the shipped revisions."""
    connection = await session.connection()
    current = await connection.run_sync(_current_heads)
    try:
        return compare(script_directory(), current)
    except CommandError as exc:  # a malformed chain on disk is a deployment error
        raise RuntimeError(f"cannot read the Alembic revision scripts: {exc}") from exc
