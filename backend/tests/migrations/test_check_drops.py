"""Downgrades drop CHECK constraints by the names the upgrades gave them.

A drop under a wrong name with IF EXISTS is a silent no-op; on the snapshot revisions it
went unnoticed only because DROP COLUMN takes a column's CHECKs along. These tests look
at the names themselves, and at a CHECK whose column stays.
"""

from __future__ import annotations

import re

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from app.migrations.ops import drop_check
from app.models import Base
from devtools.databases import TestDatabase
from tests.support import catalog
from tests.support.revisions import revision_for
from tests.support.schema_state import alembic_cli, connect

SNAPSHOT_REVISIONS = [
    "add_market_beta_to_snapshots",
    "add_sector_concentration_to_snapshots",
    "add_volatility_to_snapshots",
    "add_tail_risk_to_snapshots",
]
_DROP_CONSTRAINT = re.compile(r'DROP CONSTRAINT (?:IF EXISTS )?"?(\w+)"?')


def _dropped_constraints(db: TestDatabase, revision_range: str) -> list[str]:
    offline = alembic_cli(db, "downgrade", revision_range, "--sql")
    assert offline.returncode == 0, offline.stderr
    return _DROP_CONSTRAINT.findall(offline.stdout)


@pytest.mark.parametrize("slug", SNAPSHOT_REVISIONS)
def test_snapshot_revision_downgrade_drops_its_checks_by_their_names(
    database: TestDatabase, slug: str
) -> None:
    script = revision_for(slug)
    checks: dict[str, str] = script.module.CHECKS
    dropped = _dropped_constraints(database, f"{script.revision}:{script.down_revision}")
    assert sorted(dropped) == sorted(checks)


def test_every_constraint_a_downgrade_drops_exists_at_head(database: TestDatabase) -> None:
    dropped = _dropped_constraints(database, "head:base")
    assert dropped, "the snapshot revisions drop their CHECKs by name"
    with connect(database) as conn:
        live = set(
            conn.execute(
                text(
                    "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
                )
            ).scalars()
        )
    assert [name for name in dropped if name not in live] == []


@pytest.mark.parametrize("slug", SNAPSHOT_REVISIONS)
def test_drop_check_drops_the_revisions_checks_while_their_columns_stay(
    database: TestDatabase, slug: str
) -> None:
    """In a migration context with the models' naming convention, as env.py sets it up;
    rolled back, so the module's database stays at head."""
    checks: dict[str, str] = revision_for(slug).module.CHECKS
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            before = catalog.check_constraints(conn, "portfolio_snapshots")
            assert set(checks) <= set(before)
            context = MigrationContext.configure(conn, opts={"target_metadata": Base.metadata})
            with Operations.context(context):
                for name in checks:
                    drop_check("portfolio_snapshots", name)
            after = catalog.check_constraints(conn, "portfolio_snapshots")
            conn.rollback()
    finally:
        engine.dispose()
    assert set(after) == set(before) - set(checks)
