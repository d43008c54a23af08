"""The revision that checks position_factor_exposures' positions per statement instead of
by a per-row foreign key: up and down with data, the checks a foreign key made still made
(an unknown position, another portfolio's, a deleted position's rows, a changed key), and
a writer of positions holding it up fails fast, names the lock and resumes.

The revision is found by slug, so later revisions keep these tests valid."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase, alembic_config
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_for
from tests.support.schema_state import alembic_cli, connect, open_transaction

SLUG = "check_factor_positions_per_statement"
TABLE = "position_factor_exposures"


def _rev() -> str:
    return revision_for(SLUG).revision


def _before() -> str:
    down = revision_for(SLUG).down_revision
    assert isinstance(down, str)
    return down


def _portfolio_with_position(conn: Connection, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    portfolio = conn.execute(
        text("INSERT INTO portfolios (name) VALUES (:n) RETURNING id"), {"n": name}
    ).scalar_one()
    position = conn.execute(
        text(
            "INSERT INTO positions (portfolio_id, symbol, quantity, entry_price, entry_date)"
            " VALUES (:p, 'AAA', 1, 10, DATE '2025-01-02') RETURNING id"
        ),
        {"p": portfolio},
    ).scalar_one()
    return portfolio, position


def _insert_rows(conn: Connection, portfolio: uuid.UUID, *positions: uuid.UUID) -> None:
    """One statement: a MARKET row of each position on 2025-10-17."""
    conn.execute(
        text(
            "INSERT INTO position_factor_exposures (portfolio_id, position_id,"
            " calculation_date, factor, window_days, exposure, estimator)"
            " SELECT :pf, p, DATE '2025-10-17', 'MARKET', 90, 1.1, 'OLS'"
            " FROM unnest(CAST(:ps AS uuid[])) AS p"
        ),
        {"pf": portfolio, "ps": list(positions)},
    )


def _rows_of(conn: Connection, position: uuid.UUID) -> int:
    return int(
        conn.execute(
            text("SELECT count(*) FROM position_factor_exposures WHERE position_id = :p"),
            {"p": position},
        ).scalar_one()
    )


def test_positions_are_checked_per_statement_as_the_foreign_key_checked_them(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before())
    with connect(db) as conn:
        kept, kept_position = _portfolio_with_position(conn, "Kept")
        other, other_position = _portfolio_with_position(conn, "Other")
        _insert_rows(conn, kept, kept_position)
        conn.commit()

    migrate_to(db.sync_url, _rev())
    with connect(db) as conn:
        assert catalog.foreign_keys(conn, TABLE) == {}
        assert sorted(catalog.triggers(conn, TABLE)) == [
            "trg_position_factor_exposures_inserted",
            "trg_position_factor_exposures_updated",
        ]
        assert _rows_of(conn, kept_position) == 1  # stored rows are kept
        _insert_rows(conn, other, other_position)
        conn.commit()
        # A statement with one bad row among good ones is refused whole.
        for portfolio, positions in (
            (kept, [kept_position, uuid.uuid4()]),  # no such position
            (kept, [other_position]),  # another portfolio's position
        ):
            with pytest.raises(IntegrityError, match="is not a position of portfolio"):
                conn.execute(text("DELETE FROM position_factor_exposures"))
                _insert_rows(conn, portfolio, *positions)
            conn.rollback()
        with pytest.raises(IntegrityError, match="is not a position of portfolio"):
            conn.execute(
                text(
                    "UPDATE position_factor_exposures SET portfolio_id = :o WHERE position_id = :p"
                ),
                {"o": other, "p": kept_position},
            )
        conn.rollback()
        # A position with rows keeps its id and portfolio.
        with pytest.raises(IntegrityError, match="its id and portfolio cannot change"):
            conn.execute(
                text("UPDATE positions SET portfolio_id = :o WHERE id = :p"),
                {"o": other, "p": kept_position},
            )
        conn.rollback()
        conn.execute(text("UPDATE positions SET quantity = 2"))  # other columns: as before
        # A deleted position (and a deleted portfolio's) takes its rows with it, only its.
        conn.execute(text("DELETE FROM positions WHERE id = :p"), {"p": kept_position})
        assert (_rows_of(conn, kept_position), _rows_of(conn, other_position)) == (0, 1)
        conn.execute(text("DELETE FROM portfolios WHERE id = :p"), {"p": other})
        assert _rows_of(conn, other_position) == 0
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), _before())
    with connect(db) as conn:
        assert catalog.foreign_keys(conn, TABLE) == {"position_id": ("positions", "c")}
        assert catalog.check_constraints(conn, TABLE)  # the table's CHECKs are untouched
        assert catalog.triggers(conn, TABLE) == []
        assert catalog.triggers(conn, "positions") == ["trg_positions_updated_at"]
        assert (_rows_of(conn, kept_position), _rows_of(conn, other_position)) == (1, 1)
        with pytest.raises(IntegrityError, match="fk_position_factor_exposures_position_id"):
            _insert_rows(conn, kept, uuid.uuid4())
        conn.rollback()
        conn.execute(text("DELETE FROM positions WHERE id = :p"), {"p": kept_position})
        assert _rows_of(conn, kept_position) == 0
        conn.rollback()
    migrate_to(db.sync_url, _rev())  # and up again
    with connect(db) as conn:
        assert _rows_of(conn, kept_position) == 1


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
