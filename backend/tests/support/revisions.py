"""The revision chain as Alembic sees it, and a helper to move a database along it."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from app.config import BACKEND_DIR
from devtools.databases import alembic_config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(Config(str(BACKEND_DIR / "alembic.ini")))


def chain() -> list[Script]:
    """All revisions, base first."""
    return list(reversed(list(script_directory().walk_revisions())))


def slug_of(script: Script) -> str:
    return script.doc.splitlines()[0].strip()


def revision_for(slug: str) -> Script:
    matches = [s for s in chain() if slug_of(s) == slug]
    assert len(matches) == 1, f"expected one revision named {slug!r}, found {len(matches)}"
    return matches[0]


def head() -> str:
    """The newest revision."""
    newest = script_directory().get_current_head()
    assert newest is not None
    return newest


def revision_before(slug: str) -> str:
    """The revision just before the one named ``slug``."""
    down = revision_for(slug).down_revision
    assert isinstance(down, str), f"{slug} has no single revision before it"
    return down


def current_revision(url: URL) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def migrate_to(url: URL, target: str | None) -> None:
    """Upgrade or downgrade ``url`` to ``target`` (None = base)."""
    config: Config = alembic_config(url)
    order = [None, *(s.revision for s in chain())]
    here = order.index(current_revision(url))
    there = order.index(target)
    if there > here:
        command.upgrade(config, target or "base")
    elif there < here:
        command.downgrade(config, target or "base")
