"""The book's revisions (positive quantities, stale marks, unique live names, idempotency
keys): up and down with data, checked in pg_catalog, lock-safe on live tables.

Revisions are found by slug, so later revisions keep these tests valid.
"""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase, alembic_config
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_for
from tests.support.schema_state import alembic_cli, connect, invalid_indexes, open_transaction

QUANTITIES = "positive_position_quantities"
STALE = "add_stale_from_to_portfolios"
NAMES = "unique_live_portfolio_names"
KEYS = "create_idempotency_keys"
FAST_LOCK_TIMEOUT = "250ms"


def _rev(slug: str) -> str:
    return revision_for(slug).revision


def _before(slug: str) -> str:
    down = revision_for(slug).down_revision
    assert isinstance(down, str)
    return down


def _portfolio(conn: Connection, name: str, owner: object = None, deleted: bool = False) -> str:
    return str(
        conn.execute(
            text(
                "INSERT INTO portfolios (name, owner_id, deleted_at) VALUES (:n, :o, "
                "CASE WHEN :d THEN now() END) RETURNING id"
            ),
            {"n": name, "o": owner, "d": deleted},
        ).scalar_one()
    )


def _seed_book(conn: Connection, shorts: int) -> str:
    portfolio = _portfolio(conn, "Old book")
    conn.execute(
        text(
            "INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price,"
            " entry_date) SELECT :p, 'S' || g, CASE WHEN g % 3 = 0 THEN 'LONG' ELSE 'SHORT' END,"
            " CASE WHEN g % 3 = 0 THEN g ELSE -g END, 10, DATE '2025-01-02'"
            " FROM generate_series(1, :n) g"
        ),
        {"p": portfolio, "n": shorts},
    )
    conn.commit()
    return portfolio


def test_negative_quantities_become_positive_in_batches_and_the_check_holds(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(QUANTITIES))
    rows = 12_001  # three batches of 5,000
    with connect(db) as conn:
        _seed_book(conn, rows)
        before = conn.execute(
            text(
                "SELECT sum(abs(quantity)), count(*) FILTER (WHERE position_type = 'SHORT')"
                " FROM positions"
            )
        ).one()

    migrate_to(db.sync_url, _rev(QUANTITIES))
    with connect(db) as conn:
        after = conn.execute(
            text(
                "SELECT sum(quantity), count(*) FILTER (WHERE position_type = 'SHORT'),"
                " min(quantity) FROM positions"
            )
        ).one()
        assert (after[0], after[1]) == tuple(before)  # the same sizes, the types kept
        assert after[2] > 0
        assert catalog.check_constraints(conn, "positions")["ck_positions_quantity_positive"]
        with pytest.raises(IntegrityError, match="ck_positions_quantity_positive"):
            conn.execute(text("UPDATE positions SET quantity = -1 WHERE symbol = 'S1'"))
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), "-1")
    with connect(db) as conn:
        assert "ck_positions_quantity_positive" not in catalog.check_constraints(conn, "positions")
        assert conn.execute(text("SELECT min(quantity) FROM positions")).scalar_one() > 0
    migrate_to(db.sync_url, _rev(QUANTITIES))  # and up again


def test_a_zero_quantity_stops_the_upgrade_before_anything_changes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(QUANTITIES))
    with connect(db) as conn:
        portfolio = _seed_book(conn, 4)
        conn.execute(
            text(
                "INSERT INTO positions (portfolio_id, symbol, quantity, entry_price, entry_date)"
                " VALUES (:p, 'ZERO', 0, 1, DATE '2025-01-02')"
            ),
            {"p": portfolio},
        )
        conn.commit()
    failed = alembic_cli(db, "upgrade", _rev(QUANTITIES))
    assert failed.returncode != 0
    assert "positions with quantity 0 hold nothing" in failed.output
    assert "WHERE quantity = 0" in failed.output
    assert current_revision(db.sync_url) == _before(QUANTITIES)
    with connect(db) as conn:
        assert conn.execute(text("SELECT count(*) FROM positions WHERE quantity < 0")).scalar() == 3
        assert "ck_positions_quantity_positive" not in catalog.check_constraints(conn, "positions")


def test_the_quantity_upgrade_blocked_by_a_reader_fails_fast_names_it_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(QUANTITIES))
    with open_transaction(db, "SELECT count(*) FROM positions") as blocker:
        failed = alembic_cli(
            db, "upgrade", _rev(QUANTITIES), MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT
        )
        assert failed.returncode != 0
        assert f"pid {blocker} holds AccessShareLock on positions" in failed.output, failed.output
        assert current_revision(db.sync_url) == _before(QUANTITIES)
    resumed = alembic_cli(db, "upgrade", _rev(QUANTITIES), MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.output


def test_stale_from_is_added_and_removed_keeping_the_portfolios(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(STALE))
    with connect(db) as conn:
        _portfolio(conn, "Kept")
        conn.commit()
    migrate_to(db.sync_url, _rev(STALE))
    with connect(db) as conn:
        assert ("stale_from", "date") in catalog.columns(conn, "portfolios")
        assert conn.execute(text("SELECT name, stale_from FROM portfolios")).all() == [
            ("Kept", None)
        ]
    command.downgrade(alembic_config(db.sync_url), "-1")
    with connect(db) as conn:
        assert "stale_from" not in {name for name, _ in catalog.columns(conn, "portfolios")}
        assert conn.execute(text("SELECT name FROM portfolios")).scalars().all() == ["Kept"]


def test_live_duplicate_names_are_renamed_then_unique_per_owner_whatever_their_case(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(NAMES))
    with connect(db) as conn:
        owner = conn.execute(
            text(
                "INSERT INTO users (email, password_hash)"
                " VALUES ('o@example.com', 'x') RETURNING id"
            )
        ).scalar_one()
        first = _portfolio(conn, "Growth", owner)
        conn.commit()  # created first: it keeps its name
        second = _portfolio(conn, "GROWTH", owner)
        _portfolio(conn, "growth", owner, deleted=True)  # deleted: keeps its name
        _portfolio(conn, "Growth")  # no owner: not concerned
        _portfolio(conn, "Growth")
        conn.commit()

    migrate_to(db.sync_url, _rev(NAMES))
    with connect(db) as conn:
        names = dict(conn.execute(text("SELECT id::text, name FROM portfolios")).all())
        assert names[first] == "Growth"
        assert names[second] == f"GROWTH ({second[:8]})"
        assert sorted(names.values()).count("Growth") == 3
        definition = conn.execute(
            text("SELECT pg_get_indexdef('uq_portfolios_owner_id_lower_name'::regclass)")
        ).scalar_one()
        assert definition.startswith("CREATE UNIQUE INDEX uq_portfolios_owner_id_lower_name")
        assert "lower((name)::text)" in definition and "WHERE (deleted_at IS NULL)" in definition
        assert invalid_indexes(conn) == []
        with pytest.raises(IntegrityError, match="uq_portfolios_owner_id_lower_name"):
            _portfolio(conn, "gRoWtH", owner)
        conn.rollback()
        _portfolio(conn, "Growth", owner, deleted=True)
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), "-1")
    with connect(db) as conn:
        assert "uq_portfolios_owner_id_lower_name" not in catalog.indexes(conn)
    migrate_to(db.sync_url, _rev(NAMES))


def test_idempotency_keys_are_created_and_removed(empty_database: TestDatabase) -> None:
    db = empty_database
    migrate_to(db.sync_url, _rev(KEYS))
    with connect(db) as conn:
        assert catalog.columns(conn, "idempotency_keys") == [
            ("user_id", "uuid"),
            ("key", "character varying(255)"),
            ("fingerprint", "bytea"),
            ("status", "integer"),
            ("response_body", "text"),
            ("location", "character varying(2048)"),
            ("created_at", "timestamp with time zone"),
        ]
        assert catalog.foreign_keys(conn, "idempotency_keys") == {"user_id": ("users", "c")}
        assert catalog.check_constraints(conn, "idempotency_keys") == {
            "ck_idempotency_keys_fingerprint_digest": True
        }
    command.downgrade(alembic_config(db.sync_url), "-1")
    with connect(db) as conn:
        assert not catalog.table_exists(conn, "idempotency_keys")
