"""portfolios.benchmark_code: added with its default and CHECKs on a table with data,
NOT NULL without a rewrite, removed again on downgrade; lock-safe on a live table.

The revision is found by slug, so later revisions keep these tests valid.
"""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase, alembic_config
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_before, revision_for
from tests.support.schema_state import alembic_cli, connect, open_transaction

SLUG = "add_benchmark_code_to_portfolios"
CHECK = "ck_portfolios_benchmark_code_allowed"


def _rev() -> str:
    return revision_for(SLUG).revision


def _portfolios(conn: Connection, count: int) -> None:
    conn.execute(
        text("INSERT INTO portfolios (name) SELECT 'Book ' || g FROM generate_series(1, :n) g"),
        {"n": count},
    )
    conn.commit()


def _filenode(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_relation_filenode('portfolios')")).scalar_one())


def test_existing_portfolios_get_sp500_and_only_known_codes_are_accepted(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_before(SLUG))
    with connect(db) as conn:
        _portfolios(conn, 250)
        filenode = _filenode(conn)

    migrate_to(db.sync_url, _rev())
    with connect(db) as conn:
        assert ("benchmark_code", "character varying(32)") in catalog.columns(conn, "portfolios")
        assert catalog.column_default(conn, "portfolios", "benchmark_code") == (
            "'SP500'::character varying"
        )
        assert conn.execute(
            text("SELECT benchmark_code, count(*) FROM portfolios GROUP BY 1")
        ).all() == [("SP500", 250)]
        assert _filenode(conn) == filenode  # no rewrite of the table
        checks = catalog.check_constraints(conn, "portfolios")
        assert checks[CHECK] is True  # validated
        assert "ck_portfolios_benchmark_code_not_null" not in checks  # scaffolding gone
        nullable = conn.execute(
            text(
                "SELECT is_nullable FROM information_schema.columns "
                "WHERE table_name = 'portfolios' AND column_name = 'benchmark_code'"
            )
        ).scalar_one()
        assert nullable == "NO"
        conn.execute(text("UPDATE portfolios SET benchmark_code = 'NDX' WHERE name = 'Book 1'"))
        conn.execute(text("INSERT INTO portfolios (name, benchmark_code) VALUES ('D', 'DJIA')"))
        with pytest.raises(IntegrityError, match=CHECK):
            conn.execute(text("UPDATE portfolios SET benchmark_code = 'FTSE100'"))
        conn.rollback()
        with pytest.raises(IntegrityError, match="not-null"):
            conn.execute(text("UPDATE portfolios SET benchmark_code = NULL"))
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), "-1")
    with connect(db) as conn:
        assert "benchmark_code" not in {n for n, _ in catalog.columns(conn, "portfolios")}
        assert CHECK not in catalog.check_constraints(conn, "portfolios")
        assert conn.execute(text("SELECT count(*) FROM portfolios")).scalar_one() == 250
    migrate_to(db.sync_url, _rev())  # and up again


def test_the_upgrade_blocked_by_a_reader_fails_fast_names_it_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_before(SLUG))
    with open_transaction(db, "SELECT count(*) FROM portfolios") as blocker:
        failed = alembic_cli(db, "upgrade", _rev(), MIGRATION_LOCK_TIMEOUT="250ms")
        assert failed.returncode != 0
        assert f"pid {blocker} holds AccessShareLock on portfolios" in failed.output, failed.output
        assert current_revision(db.sync_url) == revision_before(SLUG)
    resumed = alembic_cli(db, "upgrade", _rev(), MIGRATION_LOCK_TIMEOUT="250ms")
    assert resumed.returncode == 0, resumed.output
    assert current_revision(db.sync_url) == _rev()
