"""Comparing a database's Alembic revisions with the shipped revision chain."""

from __future__ import annotations

from app.migrations.status import compare, describe, script_directory
from tests.support.revisions import chain


def test_at_head_nothing_is_pending() -> None:
    revisions = [s.revision for s in chain()]
    status = compare(script_directory(), (revisions[-1],))
    assert status.pending == () and status.unknown == ()
    assert status.heads == (revisions[-1],)


def test_empty_database_has_every_revision_pending_oldest_first() -> None:
    status = compare(script_directory(), ())
    assert [s.revision for s in status.pending] == [s.revision for s in chain()]
    assert describe(status.pending[0]) == "create_core_portfolio_tables"


def test_midway_only_later_revisions_are_pending() -> None:
    revisions = [s.revision for s in chain()]
    status = compare(script_directory(), (revisions[2],))
    assert [s.revision for s in status.pending] == revisions[3:]


def test_a_revision_unknown_to_the_scripts_is_reported() -> None:
    status = compare(script_directory(), ("0123456789ab",))
    assert status.unknown == ("0123456789ab",)
