"""The sign-in revisions (users, portfolios.owner_id, users.token_version,
sign_in_failures): up and down, checked in pg_catalog. Their runs blocked by a reader or
killed mid-index are in test_faults.py, with the snapshot revisions'.

Revisions are found by slug, so later revisions keep these tests valid.
"""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase, alembic_config
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_before, revision_for
from tests.support.schema_state import (
    assert_owner_absent,
    assert_owner_applied,
    assert_users_applied,
    connect,
    table_checksum,
)

USERS = "create_users"
OWNER = "add_owner_to_portfolios"
TOKEN_VERSION = "add_token_version_to_users"
FAILURES = "create_sign_in_failures"
PORTFOLIO_COLUMNS = ["id", "name", "description", "currency", "equity_balance", "deleted_at"]


def _seed_portfolios(db: TestDatabase) -> None:
    with connect(db) as conn:
        conn.execute(
            text(
                "INSERT INTO portfolios (name, equity_balance) "
                "SELECT 'Portfolio ' || g, 1000 * g FROM generate_series(1, 5) g"
            )
        )
        conn.commit()


def test_users_upgrade_creates_the_table_and_downgrade_removes_it(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_before(USERS))
    with connect(db) as conn:
        assert not catalog.table_exists(conn, "users")

    migrate_to(db.sync_url, revision_for(USERS).revision)
    with connect(db) as conn:
        assert_users_applied(conn)

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == revision_before(USERS)
    with connect(db) as conn:
        assert not catalog.table_exists(conn, "users")
        assert catalog.table_exists(conn, "portfolios")


def test_emails_are_unique_whatever_their_case(empty_database: TestDatabase) -> None:
    migrate_to(empty_database.sync_url, revision_for(USERS).revision)
    insert = text("INSERT INTO users (email, password_hash) VALUES (:e, 'x')")
    with connect(empty_database) as conn:
        conn.execute(insert, {"e": "Ann@Example.com"})
        conn.commit()
        with pytest.raises(IntegrityError, match="uq_users_email_lower"):
            conn.execute(insert, {"e": "ann@example.COM"})
        conn.rollback()
        with pytest.raises(IntegrityError, match="ck_users_email_shape"):
            conn.execute(insert, {"e": " bob@example.com"})


def test_owner_upgrade_keeps_existing_portfolios_ownerless_and_downgrade_keeps_them(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_before(OWNER))
    _seed_portfolios(db)
    with connect(db) as conn:
        before = table_checksum(conn, "portfolios", PORTFOLIO_COLUMNS)

    migrate_to(db.sync_url, revision_for(OWNER).revision)
    with connect(db) as conn:
        assert_owner_applied(conn)
        assert table_checksum(conn, "portfolios", PORTFOLIO_COLUMNS) == before
        assert (
            conn.execute(
                text("SELECT count(*) FROM portfolios WHERE owner_id IS NULL")
            ).scalar_one()
            == 5
        )

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == revision_before(OWNER)
    with connect(db) as conn:
        assert_owner_absent(conn)
        assert table_checksum(conn, "portfolios", PORTFOLIO_COLUMNS) == before


def test_removing_a_user_leaves_their_portfolios_without_owner(database: TestDatabase) -> None:
    with connect(database) as conn:
        user_id = conn.execute(
            text(
                "INSERT INTO users (email, password_hash) "
                "VALUES ('c@example.com', 'x') RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            text("INSERT INTO portfolios (name, owner_id) VALUES ('Kept', :u)"), {"u": user_id}
        )
        conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": user_id})
        assert conn.execute(text("SELECT owner_id FROM portfolios WHERE name = 'Kept'")).one() == (
            None,
        )
        conn.rollback()


def _seed_users(db: TestDatabase) -> None:
    with connect(db) as conn:
        conn.execute(
            text(
                "INSERT INTO users (email, password_hash) "
                "SELECT 'u' || g || '@example.com', 'x' FROM generate_series(1, 5) g"
            )
        )
        conn.commit()


USER_COLUMNS = ["id", "email", "password_hash", "is_active", "created_at", "updated_at"]


def test_token_version_starts_at_zero_for_existing_users_and_downgrade_keeps_them(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_before(TOKEN_VERSION))
    _seed_users(db)
    with connect(db) as conn:
        before = table_checksum(conn, "users", USER_COLUMNS)

    migrate_to(db.sync_url, revision_for(TOKEN_VERSION).revision)
    with connect(db) as conn:
        assert ("token_version", "integer") in catalog.columns(conn, "users")
        assert catalog.column_default(conn, "users", "token_version") == "0"
        versions = conn.execute(text("SELECT array_agg(DISTINCT token_version) FROM users"))
        assert versions.scalar_one() == [0]
        assert table_checksum(conn, "users", USER_COLUMNS) == before

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == revision_before(TOKEN_VERSION)
    with connect(db) as conn:
        assert "token_version" not in {name for name, _ in catalog.columns(conn, "users")}
        assert table_checksum(conn, "users", USER_COLUMNS) == before


def test_sign_in_failures_upgrade_creates_the_table_and_downgrade_removes_it(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_for(FAILURES).revision)
    with connect(db) as conn:
        assert catalog.columns(conn, "sign_in_failures") == [
            ("source", "character varying(64)"),
            ("account", "bytea"),
            ("failures", "integer"),
            ("last_failed_at", "timestamp with time zone"),
        ]
        assert catalog.indexes(conn)["ix_sign_in_failures_last_failed_at"] == (
            "sign_in_failures",
            ["last_failed_at"],
            True,
        )
        assert catalog.check_constraints(conn, "sign_in_failures") == {
            "ck_sign_in_failures_account_digest": True,
            "ck_sign_in_failures_failures_nonneg": True,
        }
        insert = text(
            "INSERT INTO sign_in_failures (source, account, failures, last_failed_at) "
            "VALUES ('203.0.113.1', :account, 1, now())"
        )
        conn.execute(insert, {"account": b""})
        conn.execute(insert, {"account": b"x" * 32})
        with pytest.raises(IntegrityError, match="ck_sign_in_failures_account_digest"):
            conn.execute(insert, {"account": b"ann@example.com"})
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == revision_before(FAILURES)
    with connect(db) as conn:
        assert not catalog.table_exists(conn, "sign_in_failures")
        assert "ix_sign_in_failures_last_failed_at" not in catalog.indexes(conn)
