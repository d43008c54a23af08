"""The freshness revision (portfolio_snapshots.beta_coverage and excluded_positions): up
and down with data, checked in pg_catalog, lock-safe on a live table and re-entrant. The
revision is found by slug, so later revisions keep these tests valid."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase, alembic_config
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_for
from tests.support.schema_state import alembic_cli, connect, open_transaction, table_checksum

FRESHNESS = "add_freshness_to_snapshots"
FAST_LOCK_TIMEOUT = "250ms"
CHECK = "ck_portfolio_snapshots_beta_coverage_range"
KEPT = ["id", "portfolio_id", "calculation_date", "market_beta_weighted", "hhi"]


def _rev() -> str:
    return revision_for(FRESHNESS).revision


def _before() -> str:
    down = revision_for(FRESHNESS).down_revision
    assert isinstance(down, str)
    return down


def _seed_snapshots(conn: Connection) -> None:
    portfolio = conn.execute(
        text("INSERT INTO portfolios (name) VALUES ('Book') RETURNING id")
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO portfolio_snapshots (portfolio_id, calculation_date,"
            " market_beta_weighted, hhi) SELECT :p, DATE '2025-01-01' + g, 1.1, 2500"
            " FROM generate_series(1, 40) g"
        ),
        {"p": portfolio},
    )
    conn.commit()


def _names(conn: Connection) -> set[str]:
    return {name for name, _ in catalog.columns(conn, "portfolio_snapshots")}


def test_freshness_columns_are_added_null_checked_and_removed_keeping_the_snapshots(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before())
    with connect(db) as conn:
        _seed_snapshots(conn)
        before = table_checksum(conn, "portfolio_snapshots", KEPT)

    migrate_to(db.sync_url, _rev())
    with connect(db) as conn:
        columns = dict(catalog.columns(conn, "portfolio_snapshots"))
        assert columns["beta_coverage"] == "numeric(10,4)"
        assert columns["excluded_positions"] == "jsonb"
        assert catalog.check_constraints(conn, "portfolio_snapshots")[CHECK] is True
        assert table_checksum(conn, "portfolio_snapshots", KEPT) == before
        assert (
            conn.execute(
                text(
                    "SELECT count(*) FROM portfolio_snapshots"
                    " WHERE beta_coverage IS NULL AND excluded_positions IS NULL"
                )
            ).scalar_one()
            == 40
        )
        conn.execute(
            text(
                "UPDATE portfolio_snapshots SET beta_coverage = 0.75, excluded_positions ="
                ' \'[{"symbol": "OLD", "reason": "stale_price"}]\''
                " WHERE calculation_date = '2025-01-02'"
            )
        )
        conn.commit()
        with pytest.raises(IntegrityError, match=CHECK):
            conn.execute(text("UPDATE portfolio_snapshots SET beta_coverage = 1.5"))
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == _before()
    with connect(db) as conn:
        assert not {"beta_coverage", "excluded_positions"} & _names(conn)
        assert CHECK not in catalog.check_constraints(conn, "portfolio_snapshots")
        assert table_checksum(conn, "portfolio_snapshots", KEPT) == before
    migrate_to(db.sync_url, _rev())  # and up again
    with connect(db) as conn:
        assert {"beta_coverage", "excluded_positions"} <= _names(conn)


def test_blocked_by_a_reader_it_fails_fast_naming_it_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before())
    with open_transaction(db, "SELECT count(*) FROM portfolio_snapshots") as blocker:
        failed = alembic_cli(db, "upgrade", _rev(), MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
        assert failed.returncode != 0
        assert f"pid {blocker} holds AccessShareLock on portfolio_snapshots" in failed.output, (
            failed.output
        )
        assert current_revision(db.sync_url) == _before()
    resumed = alembic_cli(db, "upgrade", _rev(), MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.output
    assert current_revision(db.sync_url) == _rev()
