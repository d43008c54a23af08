"""Offline mode (``alembic upgrade <from>:head --sql``): the script a DBA runs with psql
must leave the same schema as an online upgrade, also after an interrupted run."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_for, script_directory
from tests.support.schema_state import (
    alembic_cli,
    assert_schema_at,
    connect,
    invalid_indexes,
    run_sql_script,
)
from tests.support.spec_schema import SPEC_REVISIONS

CONCURRENT_INDEXES = ("idx_snapshots_beta", "idx_snapshots_volatility")


def _offline_upgrade(db: TestDatabase, revision_range: str) -> str:
    offline = alembic_cli(db, "upgrade", revision_range, "--sql")
    assert offline.returncode == 0, offline.stderr
    return offline.stdout


def _leave_invalid_index(db: TestDatabase, name: str) -> None:
    """What an interrupted CREATE INDEX CONCURRENTLY leaves: the index, marked INVALID.
    Here the build fails on duplicate keys (a unique index on a non-unique column)."""
    engine = create_engine(db.sync_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn, pytest.raises(IntegrityError):
            conn.execute(
                text(
                    f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON portfolio_snapshots (portfolio_id)"
                )
            )
    finally:
        engine.dispose()


def test_offline_upgrade_rebuilds_an_invalid_index_left_by_an_interrupted_build(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    start = revision_for("add_market_beta_to_snapshots").down_revision
    assert isinstance(start, str)
    migrate_to(db.sync_url, start)
    script = _offline_upgrade(db, f"{start}:head")
    with connect(db) as conn:
        conn.execute(text("INSERT INTO portfolios (name) VALUES ('p')"))
        conn.execute(
            text(
                "INSERT INTO portfolio_snapshots (portfolio_id, calculation_date) "
                "SELECT id, DATE '2025-01-02' + g FROM portfolios, generate_series(1, 2) g"
            )
        )
        conn.commit()
    for name in CONCURRENT_INDEXES:
        _leave_invalid_index(db, name)
    with connect(db) as conn:
        assert invalid_indexes(conn) == sorted(CONCURRENT_INDEXES)

    run_sql_script(db, script)

    assert current_revision(db.sync_url) == script_directory().get_current_head()
    with connect(db) as conn:
        assert invalid_indexes(conn) == []
        # Rebuilt on the revisions' columns, not merely made valid.
        assert_schema_at(conn, SPEC_REVISIONS[-1].slug)


def test_offline_rerun_keeps_a_valid_index_built_before_the_interruption(
    empty_database: TestDatabase,
) -> None:
    """A run that built the index but stopped before stamping: the re-run keeps it."""
    db = empty_database
    script = revision_for("add_market_beta_to_snapshots")
    assert isinstance(script.down_revision, str)
    migrate_to(db.sync_url, script.revision)
    with connect(db) as conn:
        conn.execute(
            text("UPDATE alembic_version SET version_num = :v"), {"v": script.down_revision}
        )
        conn.commit()
        built = conn.execute(text("SELECT 'idx_snapshots_beta'::regclass::oid")).scalar_one()

    run_sql_script(db, _offline_upgrade(db, f"{script.down_revision}:{script.revision}"))

    assert current_revision(db.sync_url) == script.revision
    with connect(db) as conn:
        kept = conn.execute(text("SELECT 'idx_snapshots_beta'::regclass::oid")).scalar_one()
        assert catalog.indexes(conn)["idx_snapshots_beta"][2] is True
    assert kept == built
