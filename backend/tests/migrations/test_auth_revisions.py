"""The sign-in revisions (users, portfolios.owner_id, users.token_version,
sign_in_failures): up and down, checked in pg_catalog, and lock-safe on live tables like
the snapshot revisions.

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
from tests.support.migration_faults import kill_upgrade_during_index_build
from tests.support.revisions import current_revision, migrate_to, revision_for, script_directory
from tests.support.schema_state import (
    alembic_cli,
    connect,
    invalid_indexes,
    open_transaction,
    table_checksum,
)

USERS = "create_users"
OWNER = "add_owner_to_portfolios"
TOKEN_VERSION = "add_token_version_to_users"
FAILURES = "create_sign_in_failures"
FAST_LOCK_TIMEOUT = "250ms"  # long enough for an unblocked lock, short to wait out
LONG_READER = "SELECT count(*) FROM portfolios"
PORTFOLIO_COLUMNS = ["id", "name", "description", "currency", "equity_balance", "deleted_at"]


def _rev(slug: str) -> str:
    return revision_for(slug).revision


def _before(slug: str) -> str:
    down = revision_for(slug).down_revision
    assert isinstance(down, str)
    return down


def _head() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


def _assert_users_applied(conn: Connection) -> None:
    assert catalog.columns(conn, "users") == [
        ("id", "uuid"),
        ("email", "character varying(320)"),
        ("password_hash", "character varying(255)"),
        ("is_active", "boolean"),
        ("created_at", "timestamp with time zone"),
        ("updated_at", "timestamp with time zone"),
    ]
    assert "trg_users_updated_at" in catalog.triggers(conn, "users")
    assert catalog.column_default(conn, "users", "is_active") == "true"
    definition = conn.execute(
        text("SELECT pg_get_indexdef('uq_users_email_lower'::regclass)")
    ).scalar_one()
    assert definition.startswith("CREATE UNIQUE INDEX uq_users_email_lower ON public.users")
    assert "lower((email)::text)" in definition
    assert catalog.check_constraints(conn, "users") == {"ck_users_email_shape": True}


def _assert_owner_applied(conn: Connection) -> None:
    assert ("owner_id", "uuid") in catalog.columns(conn, "portfolios")
    fk = conn.execute(
        text(
            "SELECT confrelid::regclass::text, confdeltype, convalidated FROM pg_constraint "
            "WHERE conname = 'fk_portfolios_owner_id_users'"
        )
    ).one()
    assert tuple(fk) == ("users", "n", True)  # n = ON DELETE SET NULL, validated
    assert catalog.indexes(conn)["ix_portfolios_owner_id"] == ("portfolios", ["owner_id"], True)


def _assert_owner_absent(conn: Connection) -> None:
    assert "owner_id" not in {name for name, _ in catalog.columns(conn, "portfolios")}
    assert "ix_portfolios_owner_id" not in catalog.indexes(conn)
    assert catalog.foreign_keys(conn, "portfolios") == {}


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
    migrate_to(db.sync_url, _before(USERS))
    with connect(db) as conn:
        assert not catalog.table_exists(conn, "users")

    migrate_to(db.sync_url, _rev(USERS))
    with connect(db) as conn:
        _assert_users_applied(conn)

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == _before(USERS)
    with connect(db) as conn:
        assert not catalog.table_exists(conn, "users")
        assert catalog.table_exists(conn, "portfolios")


def test_emails_are_unique_whatever_their_case(empty_database: TestDatabase) -> None:
    migrate_to(empty_database.sync_url, _rev(USERS))
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
    migrate_to(db.sync_url, _before(OWNER))
    _seed_portfolios(db)
    with connect(db) as conn:
        before = table_checksum(conn, "portfolios", PORTFOLIO_COLUMNS)

    migrate_to(db.sync_url, _rev(OWNER))
    with connect(db) as conn:
        _assert_owner_applied(conn)
        assert table_checksum(conn, "portfolios", PORTFOLIO_COLUMNS) == before
        assert (
            conn.execute(
                text("SELECT count(*) FROM portfolios WHERE owner_id IS NULL")
            ).scalar_one()
            == 5
        )

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == _before(OWNER)
    with connect(db) as conn:
        _assert_owner_absent(conn)
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


def _assert_names_blocker(output: str, pid: int) -> None:
    assert f"lock_timeout={FAST_LOCK_TIMEOUT}" in output, output
    assert f"pid {pid} holds AccessShareLock on portfolios" in output, output


def test_owner_upgrade_blocked_by_a_reader_fails_fast_names_it_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(OWNER))
    with open_transaction(db, LONG_READER) as blocker:
        failed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
        assert failed.returncode != 0
        _assert_names_blocker(failed.stdout + failed.stderr, blocker)
        assert current_revision(db.sync_url) == _before(OWNER)
        with connect(db) as conn:
            _assert_owner_absent(conn)

    resumed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    assert current_revision(db.sync_url) == _head()
    with connect(db) as conn:
        _assert_owner_applied(conn)


def test_owner_downgrade_blocked_by_a_reader_fails_fast_and_leaves_it_whole(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _rev(OWNER))
    with open_transaction(db, LONG_READER) as blocker:
        failed = alembic_cli(
            db, "downgrade", _before(USERS), MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT
        )
        assert failed.returncode != 0
        _assert_names_blocker(failed.stdout + failed.stderr, blocker)
        assert current_revision(db.sync_url) == _rev(OWNER)
        with connect(db) as conn:
            _assert_owner_applied(conn)
            _assert_users_applied(conn)

    resumed = alembic_cli(db, "downgrade", _before(USERS), MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    with connect(db) as conn:
        _assert_owner_absent(conn)
        assert not catalog.table_exists(conn, "users")


@pytest.mark.slow
def test_owner_index_build_killed_midway_is_rebuilt_by_a_rerun(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(OWNER))
    _seed_portfolios(db)
    killed = kill_upgrade_during_index_build(db)
    assert killed.index_name == "ix_portfolios_owner_id"
    assert killed.invalid_after == ["ix_portfolios_owner_id"]
    assert current_revision(db.sync_url) == _before(OWNER)

    rerun = alembic_cli(db, "upgrade", "head")
    assert rerun.returncode == 0, rerun.stderr
    assert current_revision(db.sync_url) == _head()
    with connect(db) as conn:
        assert invalid_indexes(conn) == []
        _assert_owner_applied(conn)


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
    migrate_to(db.sync_url, _before(TOKEN_VERSION))
    _seed_users(db)
    with connect(db) as conn:
        before = table_checksum(conn, "users", USER_COLUMNS)

    migrate_to(db.sync_url, _rev(TOKEN_VERSION))
    with connect(db) as conn:
        assert ("token_version", "integer") in catalog.columns(conn, "users")
        assert catalog.column_default(conn, "users", "token_version") == "0"
        versions = conn.execute(text("SELECT array_agg(DISTINCT token_version) FROM users"))
        assert versions.scalar_one() == [0]
        assert table_checksum(conn, "users", USER_COLUMNS) == before

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == _before(TOKEN_VERSION)
    with connect(db) as conn:
        assert "token_version" not in {name for name, _ in catalog.columns(conn, "users")}
        assert table_checksum(conn, "users", USER_COLUMNS) == before


def test_token_version_upgrade_blocked_by_a_reader_fails_fast_names_it_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(TOKEN_VERSION))
    with open_transaction(db, "SELECT count(*) FROM users") as blocker:
        failed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
        assert failed.returncode != 0
        output = failed.stdout + failed.stderr
        assert f"pid {blocker} holds AccessShareLock on users" in output, output
        assert current_revision(db.sync_url) == _before(TOKEN_VERSION)

    resumed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    assert current_revision(db.sync_url) == _head()


def test_sign_in_failures_upgrade_creates_the_table_and_downgrade_removes_it(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _rev(FAILURES))
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
    assert current_revision(db.sync_url) == _before(FAILURES)
    with connect(db) as conn:
        assert not catalog.table_exists(conn, "sign_in_failures")
        assert "ix_sign_in_failures_last_failed_at" not in catalog.indexes(conn)
