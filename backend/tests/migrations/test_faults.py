"""Migrations under faults: a blocking transaction, a killed process, a re-run, a database
that predates Alembic, and a full downgrade with data present.

The CLI runs through Alembic's command line (in this process: exit codes and messages are
the ones a user sees; the kill test needs a child process). Revisions are found by slug,
so later revisions keep these tests valid.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from devtools.databases import TestDatabase
from tests.support import catalog
from tests.support.migration_faults import kill_upgrade_during_index_build
from tests.support.revisions import current_revision, migrate_to, revision_for, script_directory
from tests.support.schema_state import (
    alembic_cli,
    assert_schema_at,
    connect,
    invalid_indexes,
    open_transaction,
    schema_fingerprint,
    table_checksum,
)
from tests.support.spec_schema import BASELINE_SLUG, BASELINE_TABLES, SPEC_REVISIONS

# A report that started before the migration and is still reading the table.
LONG_READER = "SELECT count(*) FROM portfolio_snapshots"
FAST_LOCK_TIMEOUT = "250ms"  # long enough for an unblocked lock, short to wait out


def _head() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


def _baseline() -> str:
    return revision_for(BASELINE_SLUG).revision


def _assert_names_blocker(output: str, pid: int) -> None:
    """The lock failure, said once (Alembic prints it as FAILED: ...)."""
    assert output.count(f"lock_timeout={FAST_LOCK_TIMEOUT}") == 1, output
    assert f"pid {pid} holds AccessShareLock on portfolio_snapshots" in output, output


@pytest.mark.slow
def test_upgrade_blocked_by_long_transaction_fails_fast_names_lock_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, _baseline())
    first_snapshot_change = revision_for("add_market_beta_to_snapshots")

    with open_transaction(db, LONG_READER) as blocker:
        failed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
        assert failed.returncode != 0
        _assert_names_blocker(failed.output, blocker)

        # The revision before it (a new table, which the reader does not block) completed.
        current = alembic_cli(db, "current")
        assert current.returncode == 0
        assert first_snapshot_change.down_revision in current.stdout, current.stdout
        with connect(db) as conn:
            assert_schema_at(conn, "create_position_market_betas")

    resumed = alembic_cli(db, "upgrade", "head", MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    assert current_revision(db.sync_url) == _head()
    with connect(db) as conn:
        assert_schema_at(conn, SPEC_REVISIONS[-1].slug)
        assert invalid_indexes(conn) == []


@pytest.mark.slow
def test_downgrade_blocked_by_long_transaction_fails_fast_names_lock_and_resumes(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_for(SPEC_REVISIONS[-1].slug).revision)

    with open_transaction(db, LONG_READER) as blocker:
        failed = alembic_cli(db, "downgrade", _baseline(), MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
        assert failed.returncode != 0
        _assert_names_blocker(failed.output, blocker)

        # position_volatility went; the volatility columns' revision could not take its lock
        # and is still fully in place, index included.
        expected = revision_for("add_volatility_to_snapshots").revision
        current = alembic_cli(db, "current")
        assert expected in current.stdout, current.stdout
        with connect(db) as conn:
            assert_schema_at(conn, "add_volatility_to_snapshots")
            assert invalid_indexes(conn) == []

    resumed = alembic_cli(db, "downgrade", _baseline(), MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    assert current_revision(db.sync_url) == _baseline()
    with connect(db) as conn:
        assert_schema_at(conn, None)


@pytest.mark.slow
def test_killed_during_concurrent_index_build_rerun_finishes_without_invalid_index(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_for("add_market_beta_to_snapshots").down_revision)  # type: ignore[arg-type]
    killed = kill_upgrade_during_index_build(db)
    assert killed.index_name == "idx_snapshots_beta"
    assert killed.invalid_after == ["idx_snapshots_beta"]
    assert current_revision(db.sync_url) == revision_for("create_position_market_betas").revision

    rerun = alembic_cli(db, "upgrade", "head")
    assert rerun.returncode == 0, rerun.stderr
    assert current_revision(db.sync_url) == _head()
    with connect(db) as conn:
        assert invalid_indexes(conn) == []
        assert_schema_at(conn, SPEC_REVISIONS[-1].slug)


def test_upgrade_head_twice_is_a_no_op(empty_database: TestDatabase) -> None:
    db = empty_database
    first = alembic_cli(db, "upgrade", "head")
    assert first.returncode == 0, first.stderr
    with connect(db) as conn:
        before = schema_fingerprint(conn)

    again = alembic_cli(db, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stderr
    assert current_revision(db.sync_url) == _head()
    with connect(db) as conn:
        assert schema_fingerprint(conn) == before


_SEED = [
    "INSERT INTO portfolios (name, equity_balance) "
    "SELECT 'Portfolio ' || g, 100000 * g FROM generate_series(1, 3) g",
    "INSERT INTO positions (portfolio_id, symbol, quantity, entry_price, entry_date) "
    "SELECT p.id, 'SYM' || g, 10 * g, 100 + g, DATE '2025-01-02' + g "
    "FROM portfolios p CROSS JOIN generate_series(1, 21) g",
    "INSERT INTO portfolio_snapshots (portfolio_id, calculation_date, total_value, daily_return) "
    "SELECT p.id, DATE '2025-01-02' + g, 1000000 + g, g / 1000.0 "
    "FROM portfolios p CROSS JOIN generate_series(1, 30) g",
]
_SEED_RISK = [
    "UPDATE portfolio_snapshots SET market_beta_weighted = 1.1, market_beta_r_squared = 0.8, "
    "market_beta_observations = 90, hhi = 1200, realized_volatility_21d = 0.18, "
    "volatility_trend = 'stable', sector_exposure = '{\"Energy\": 0.3}'",
    "INSERT INTO position_market_betas (portfolio_id, position_id, calc_date, beta, observations) "
    "SELECT portfolio_id, id, DATE '2025-03-03', 1.05, 90 FROM positions",
    "INSERT INTO position_volatility (position_id, calculation_date, realized_vol_21d) "
    "SELECT id, DATE '2025-03-03', 0.21 FROM positions",
    "INSERT INTO benchmarks_sector_weights (benchmark_code, asof_date, sector, weight) "
    "VALUES ('SP500', DATE '2025-03-03', 'Energy', 0.04)",
]


def _seed(db: TestDatabase, statements: list[str]) -> None:
    with connect(db) as conn:
        for statement in statements:
            conn.execute(text(statement))
        conn.commit()


def test_downgrade_whole_chain_with_data_keeps_baseline_rows(empty_database: TestDatabase) -> None:
    db = empty_database
    migrate_to(db.sync_url, _baseline())
    with connect(db) as conn:
        baseline_columns = {t: [c for c, _ in catalog.columns(conn, t)] for t in BASELINE_TABLES}
    _seed(db, _SEED)
    assert alembic_cli(db, "upgrade", "head").returncode == 0
    _seed(db, _SEED_RISK)
    with connect(db) as conn:
        before = {t: table_checksum(conn, t, cols) for t, cols in baseline_columns.items()}
        assert conn.execute(text("SELECT count(*) FROM position_market_betas")).scalar() == 63

    down = alembic_cli(db, "downgrade", _baseline())
    assert down.returncode == 0, down.stderr

    assert current_revision(db.sync_url) == _baseline()
    with connect(db) as conn:
        assert_schema_at(conn, None)
        for table, cols in baseline_columns.items():
            assert [c for c, _ in catalog.columns(conn, table)] == cols
        after = {t: table_checksum(conn, t, cols) for t, cols in baseline_columns.items()}
    assert after == before
    assert before["portfolio_snapshots"][0] == 90 and before["positions"][0] == 63


def _db_without_alembic_history(db: TestDatabase, how: str) -> None:
    assert alembic_cli(db, "upgrade", "head").returncode == 0
    _seed(db, _SEED)
    with connect(db) as conn:
        if how == "no version table":  # e.g. restored from a dump of the tables only
            conn.execute(text("DROP TABLE alembic_version"))
        else:  # "older version": the recorded revision lags the real schema
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": _baseline()})
        conn.commit()


@pytest.mark.parametrize("how", ["no version table", "older version"])
def test_existing_tables_without_history_upgrade_refuses_then_stamp_head_works(
    empty_database: TestDatabase, how: str
) -> None:
    db = empty_database
    _db_without_alembic_history(db, how)
    with connect(db) as conn:
        schema = schema_fingerprint(conn)
        rows = table_checksum(conn, "positions", ["id", "symbol", "quantity"])

    refused = alembic_cli(db, "upgrade", "head")
    assert refused.returncode != 0
    assert "already exists: the tables exist but alembic_version" in refused.output, refused.output
    assert "Traceback" not in refused.output
    with connect(db) as conn:  # the failed revision rolled back: nothing changed
        assert schema_fingerprint(conn) == schema
        assert table_checksum(conn, "positions", ["id", "symbol", "quantity"]) == rows

    assert alembic_cli(db, "stamp", "head").returncode == 0
    check = alembic_cli(db, "check")  # the documented follow-up: live schema == models
    assert check.returncode == 0, check.stderr
    upgraded = alembic_cli(db, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert current_revision(db.sync_url) == _head()
    with connect(db) as conn:
        assert schema_fingerprint(conn) == schema
        assert table_checksum(conn, "positions", ["id", "symbol", "quantity"]) == rows
