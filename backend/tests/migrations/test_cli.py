"""The spec's alembic commands, run as a user runs them (from backend/, as a CLI)."""

from __future__ import annotations

from tests.support.databases import TestDatabase, subprocess_env
from tests.support.processes import run_python
from tests.support.revisions import chain, current_revision, revision_for, slug_of
from tests.support.spec_schema import SPEC_REVISIONS


def alembic(database: TestDatabase, *args: str) -> str:
    result = run_python(["-m", "alembic", *args], subprocess_env(database))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_spec_command_sequence(empty_database: TestDatabase) -> None:
    scripts = chain()
    head = scripts[-1].revision
    url = empty_database.sync_url

    alembic(empty_database, "upgrade", "head")
    assert alembic(empty_database, "current").split() == [head, "(head)"]

    history = alembic(empty_database, "history")
    for script in scripts:
        assert f"-> {script.revision}" in history and slug_of(script) in history

    alembic(empty_database, "downgrade", "-1")
    assert current_revision(url) == scripts[-2].revision

    # "Roll back to specific migration"
    target = revision_for(SPEC_REVISIONS[2].slug).revision
    alembic(empty_database, "downgrade", target)
    assert current_revision(url) == target

    # "Roll back all risk metrics migrations": <migration 0>^ is the baseline.
    migration_0 = revision_for(SPEC_REVISIONS[0].slug)
    alembic(empty_database, "downgrade", f"{migration_0.revision}^")
    assert current_revision(url) == migration_0.down_revision

    alembic(empty_database, "upgrade", "head")
    alembic(empty_database, "stamp", "head")
    assert current_revision(url) == head
