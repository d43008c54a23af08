"""The price revisions (corporate_actions; daily_prices.adjusted_close required): up and
down with data, checked in pg_catalog, lock-safe on a live table, re-entrant, and the same
offline. Revisions are found by slug, so later revisions keep these tests valid."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase, alembic_config
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_for, script_directory
from tests.support.schema_state import (
    alembic_cli,
    connect,
    open_transaction,
    run_sql_script,
    table_checksum,
)

ACTIONS = "create_corporate_actions"
REQUIRE = "require_adjusted_close"
FAST_LOCK_TIMEOUT = "250ms"
PRICE_COLUMNS = ["id", "symbol", "date", "close", "volume", "source", "created_at"]
CHECK = "ck_daily_prices_adjusted_close_not_null"


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


def _seed_prices(db: TestDatabase) -> None:
    """Three symbols, 50 days each: AAA and CCC without adjusted_close (older loads), BBB
    with one (a CSV that gave it)."""
    with connect(db) as conn:
        conn.execute(
            text(
                "INSERT INTO daily_prices (symbol, date, close, adjusted_close, source) "
                "SELECT s, DATE '2025-01-01' + g, 10 + g, "
                "  CASE WHEN s = 'BBB' THEN 5 + g END, 'CSV' "
                "FROM unnest(ARRAY['AAA', 'BBB', 'CCC']) s, generate_series(1, 50) g"
            )
        )
        conn.commit()


def _adjusted(conn: Connection) -> dict[str, list[tuple[object, object]]]:
    rows = conn.execute(
        text("SELECT symbol, close, adjusted_close FROM daily_prices ORDER BY symbol, date")
    )
    out: dict[str, list[tuple[object, object]]] = {}
    for symbol, close, adjusted in rows:
        out.setdefault(symbol, []).append((close, adjusted))
    return out


def _nullable(conn: Connection) -> bool:
    return bool(
        conn.execute(
            text(
                "SELECT NOT attnotnull FROM pg_attribute "
                "WHERE attrelid = 'daily_prices'::regclass AND attname = 'adjusted_close'"
            )
        ).scalar_one()
    )


def _assert_filled_and_required(conn: Connection) -> None:
    prices = _adjusted(conn)
    assert all(adjusted == close for close, adjusted in prices["AAA"] + prices["CCC"])
    assert all(adjusted == close - 5 for close, adjusted in prices["BBB"])  # left as it was
    assert not _nullable(conn)
    assert CHECK not in catalog.check_constraints(conn, "daily_prices")


def test_corporate_actions_upgrade_creates_the_table_and_downgrade_removes_it(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _rev(ACTIONS))
    with connect(db) as conn:
        assert catalog.columns(conn, "corporate_actions") == [
            ("id", "uuid"),
            ("symbol", "character varying(20)"),
            ("ex_date", "date"),
            ("kind", "character varying(16)"),
            ("split_numerator", "numeric(18,6)"),
            ("split_denominator", "numeric(18,6)"),
            ("dividend_amount", "numeric(18,6)"),
            ("source", "character varying(32)"),
            ("created_at", "timestamp with time zone"),
            ("updated_at", "timestamp with time zone"),
        ]
        assert "trg_corporate_actions_updated_at" in catalog.triggers(conn, "corporate_actions")
        insert = text(
            "INSERT INTO corporate_actions (symbol, ex_date, kind, split_numerator, "
            "split_denominator, dividend_amount) VALUES ('X', '2025-06-10', :k, :n, :d, :a)"
        )
        conn.execute(insert, {"k": "split", "n": 4, "d": 1, "a": None})
        conn.execute(insert, {"k": "dividend", "n": None, "d": None, "a": "0.25"})
        for bad, constraint in [
            ({"k": "split", "n": 4, "d": 1, "a": None}, "uq_corporate_actions_symbol_ex_date_kind"),
            ({"k": "merger", "n": None, "d": None, "a": None}, "kind_allowed"),
            ({"k": "split", "n": 4, "d": None, "a": None}, "split_has_ratio"),
            ({"k": "dividend", "n": 2, "d": 1, "a": "0.1"}, "split_has_ratio"),
            ({"k": "dividend", "n": None, "d": None, "a": "0"}, "dividend_amount_positive"),
        ]:
            savepoint = conn.begin_nested()
            with pytest.raises(IntegrityError, match=constraint):
                conn.execute(insert, {**bad})
            savepoint.rollback()
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == _before(ACTIONS)
    with connect(db) as conn:
        assert not catalog.table_exists(conn, "corporate_actions")
        assert catalog.table_exists(conn, "daily_prices")


def test_adjusted_close_is_filled_from_close_then_required_and_the_downgrade_keeps_it(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(REQUIRE))
    _seed_prices(db)
    with connect(db) as conn:
        before = table_checksum(conn, "daily_prices", PRICE_COLUMNS)
        assert _nullable(conn)

    migrate_to(db.sync_url, _rev(REQUIRE))
    with connect(db) as conn:
        _assert_filled_and_required(conn)
        assert table_checksum(conn, "daily_prices", PRICE_COLUMNS) == before
        with pytest.raises(IntegrityError, match="adjusted_close"):
            conn.execute(
                text("INSERT INTO daily_prices (symbol, date, close) VALUES ('D', '2025-01-02', 1)")
            )
        conn.rollback()

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == _before(REQUIRE)
    with connect(db) as conn:
        assert _nullable(conn)
        prices = _adjusted(conn)
        assert all(adjusted == close for close, adjusted in prices["AAA"])  # kept
        assert table_checksum(conn, "daily_prices", PRICE_COLUMNS) == before


def test_require_blocked_by_a_reader_fails_fast_naming_it_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _before(REQUIRE))
    _seed_prices(db)
    with open_transaction(db, "SELECT count(*) FROM daily_prices") as blocker:
        failed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
        assert failed.returncode != 0
        output = failed.stdout + failed.stderr
        assert f"lock_timeout={FAST_LOCK_TIMEOUT}" in output, output
        assert f"pid {blocker} holds AccessShareLock on daily_prices" in output, output
        assert current_revision(db.sync_url) == _before(REQUIRE)
        with connect(db) as conn:
            assert _nullable(conn)

    resumed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    assert current_revision(db.sync_url) == _head()
    with connect(db) as conn:
        _assert_filled_and_required(conn)


def test_a_run_cut_short_resumes_and_the_fill_waits_for_a_locked_row_symbol_by_symbol(
    empty_database: TestDatabase,
) -> None:
    """A run stopped after its first step left the CHECK, NOT VALID: rows without an
    adjusted_close are refused from then on. Run again while a writer holds one of CCC's
    rows: AAA's fill is committed, CCC's waits at most lock_timeout and fails, naming the
    writer; the same command once more finishes."""
    db = empty_database
    migrate_to(db.sync_url, _before(REQUIRE))
    _seed_prices(db)
    with connect(db) as conn:
        conn.execute(
            text(
                f"ALTER TABLE daily_prices ADD CONSTRAINT {CHECK} "
                "CHECK (adjusted_close IS NOT NULL) NOT VALID"
            )
        )
        conn.commit()
        with pytest.raises(IntegrityError, match=CHECK):
            conn.execute(
                text("INSERT INTO daily_prices (symbol, date, close) VALUES ('D', '2025-01-02', 1)")
            )
        conn.rollback()

    holding = "SELECT 1 FROM daily_prices WHERE symbol = 'CCC' AND date = '2025-01-10' FOR UPDATE"
    with open_transaction(db, holding) as writer:
        failed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
        assert failed.returncode != 0
        output = failed.stdout + failed.stderr
        assert f"pid {writer} holds" in output, output
    assert current_revision(db.sync_url) == _before(REQUIRE)
    with connect(db) as conn:
        prices = _adjusted(conn)
        assert all(adjusted == close for close, adjusted in prices["AAA"])
        assert all(adjusted is None for _, adjusted in prices["CCC"])
        assert catalog.check_constraints(conn, "daily_prices")[CHECK] is False

    rerun = alembic_cli(db, "upgrade", "head")
    assert rerun.returncode == 0, rerun.stderr
    with connect(db) as conn:
        _assert_filled_and_required(conn)


def test_offline_script_fills_and_requires_adjusted_close_as_online(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    start = _before(ACTIONS)
    migrate_to(db.sync_url, start)
    _seed_prices(db)
    offline = alembic_cli(db, "upgrade", f"{start}:head", "--sql")
    assert offline.returncode == 0, offline.stderr

    run_sql_script(db, offline.stdout)

    assert current_revision(db.sync_url) == _head()
    with connect(db) as conn:
        _assert_filled_and_required(conn)
        assert catalog.table_exists(conn, "corporate_actions")
