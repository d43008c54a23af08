"""The factor exposures revision: up and down with data, checked in pg_catalog, and a
writer of positions holding it up fails fast, names the lock and resumes.

The revision is found by slug, so later revisions keep these tests valid."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase, alembic_config
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_for
from tests.support.schema_state import alembic_cli, connect, open_transaction

SLUG = "create_factor_exposures"
TABLES = ("position_factor_exposures", "portfolio_factor_exposures")


def _rev() -> str:
    return revision_for(SLUG).revision


def _before() -> str:
    down = revision_for(SLUG).down_revision
    assert isinstance(down, str)
    return down


def test_the_factor_tables_come_and_go_keeping_the_book(empty_database: TestDatabase) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before())
    with connect(db) as conn:
        portfolio = conn.execute(
            text("INSERT INTO portfolios (name) VALUES ('Kept') RETURNING id")
        ).scalar_one()
        position = conn.execute(
            text(
                "INSERT INTO positions (portfolio_id, symbol, quantity, entry_price, entry_date)"
                " VALUES (:p, 'AAA', 1, 10, DATE '2025-01-02') RETURNING id"
            ),
            {"p": portfolio},
        ).scalar_one()
        conn.commit()

    migrate_to(db.sync_url, _rev())
    with connect(db) as conn:
        for table in TABLES:
            assert catalog.table_exists(conn, table)
            checks = catalog.check_constraints(conn, table)
            assert checks[f"ck_{table}_exposure_explained"]  # validated
        # The position table's one index is its key, by portfolio and date first.
        indexes = catalog.indexes(conn)
        position_indexes = {n: i for n, i in indexes.items() if i[0] == TABLES[0]}
        assert position_indexes == {
            "pk_position_factor_exposures": (
                TABLES[0],
                ["portfolio_id", "calculation_date", "position_id", "factor"],
                True,
            )
        }
        assert catalog.foreign_keys(conn, "position_factor_exposures") == {
            "position_id": ("positions", "c"),  # ON DELETE CASCADE
        }
        assert catalog.foreign_keys(conn, "portfolio_factor_exposures") == {
            "portfolio_id": ("portfolios", "c"),
        }
        conn.execute(
            text(
                "INSERT INTO position_factor_exposures (portfolio_id, position_id,"
                " calculation_date, factor, window_days, exposure, std_error, t_stat,"
                " estimator) VALUES (:pf, :p, DATE '2025-10-17', 'MARKET', 90, 1.1, 0.1, 11,"
                " 'OLS')"
            ),
            {"pf": portfolio, "p": position},
        )
        conn.execute(
            text(
                "INSERT INTO portfolio_factor_exposures (portfolio_id, calculation_date, factor,"
                " window_days, null_reason) VALUES (:pf, DATE '2025-10-17', 'RATES', 90,"
                " 'TLT: no prices')"
            ),
            {"pf": portfolio},
        )
        conn.commit()
        with pytest.raises(IntegrityError, match="exposure_explained"):
            conn.execute(
                text(
                    "INSERT INTO portfolio_factor_exposures (portfolio_id, calculation_date,"
                    " factor, window_days) VALUES (:pf, DATE '2025-10-17', 'SIZE', 90)"
                ),
                {"pf": portfolio},
            )
        conn.rollback()
        with pytest.raises(IntegrityError, match="estimator_allowed"):
            conn.execute(text("UPDATE position_factor_exposures SET estimator = 'LASSO'"))
        conn.rollback()
        # A deleted position takes its factor rows with it.
        conn.execute(text("DELETE FROM positions WHERE id = :p"), {"p": position})
        assert conn.execute(text("SELECT count(*) FROM position_factor_exposures")).scalar() == 0
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), _before())
    with connect(db) as conn:
        for table in TABLES:
            assert not catalog.table_exists(conn, table)
        assert conn.execute(text("SELECT count(*) FROM positions")).scalar() == 1
        assert conn.execute(text("SELECT name FROM portfolios")).scalar() == "Kept"
    migrate_to(db.sync_url, _rev())  # and up again
    with connect(db) as conn:
        assert conn.execute(text("SELECT count(*) FROM portfolio_factor_exposures")).scalar() == 0


def test_a_writer_of_positions_holds_the_upgrade_up_which_fails_fast_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before())
    with open_transaction(db, "LOCK TABLE positions IN ROW EXCLUSIVE MODE") as blocker:
        failed = alembic_cli(db, "upgrade", _rev(), MIGRATION_LOCK_TIMEOUT="250ms")
        assert failed.returncode != 0
        assert f"pid {blocker} holds RowExclusiveLock on positions" in failed.output, failed.output
        assert current_revision(db.sync_url) == _before()
    resumed = alembic_cli(db, "upgrade", _rev(), MIGRATION_LOCK_TIMEOUT="250ms")
    assert resumed.returncode == 0, resumed.output
