"""The spec's alembic commands, run as a user runs them (from backend/ and the repository
root, as a CLI): the first as a child process, the rest through Alembic's command line in
this process (tests/support/cli.py)."""

from __future__ import annotations

import pytest

from app.config import BACKEND_DIR
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.revisions import chain, current_revision, revision_for, slug_of
from tests.support.schema_state import alembic_cli
from tests.support.spec_schema import SPEC_REVISIONS


def alembic(database: TestDatabase, *args: str) -> str:
    result = alembic_cli(database, *args)
    assert result.returncode == 0, result.output
    return result.stdout


@pytest.mark.slow
def test_spec_command_sequence(empty_database: TestDatabase) -> None:
    scripts = chain()
    head = scripts[-1].revision
    url = empty_database.sync_url

    first = run_python(["-m", "alembic", "upgrade", "head"], subprocess_env(empty_database))
    assert first.returncode == 0, first.stderr
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


@pytest.mark.slow
def test_alembic_from_the_repository_root_uses_the_backend_configuration(
    database: TestDatabase,
) -> None:
    result = run_python(
        ["-c", "from alembic.config import main; main(prog='alembic')", "current"],
        subprocess_env(database),
        cwd=BACKEND_DIR.parent,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [chain()[-1].revision, "(head)"]


def test_a_failure_is_printed_once(empty_database: TestDatabase) -> None:
    result = alembic_cli(empty_database, "downgrade", "nonexistent")
    assert result.returncode != 0
    assert result.output.count("nonexistent") == 1, result.output
    assert "Traceback" not in result.output
