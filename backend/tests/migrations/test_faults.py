"""Migrations under faults: a blocking transaction, a killed process, a re-run, a database
that predates Alembic, and a full downgrade with data present.

The blocked and killed runs are one test each, over every revision that locks a live table
(the snapshot revisions, portfolios.owner_id, users.token_version) or builds an index on one
concurrently: a new such revision is one more case in BLOCKED or KILLED.

The CLI runs through Alembic's command line (in this process: exit codes and messages are
the ones a user sees; the kill test needs a child process). Revisions are found by slug,
so later revisions keep these tests valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from devtools.databases import TestDatabase
from tests.support import catalog
from tests.support.migration_faults import (
    FAST_LOCK_TIMEOUT,
    assert_names_blocker,
    kill_upgrade_during_index_build,
    long_reader,
)
from tests.support.revisions import (
    current_revision,
    head,
    migrate_to,
    revision_before,
    revision_for,
)
from tests.support.schema_state import (
    alembic_cli,
    assert_owner_absent,
    assert_owner_applied,
    assert_schema_at,
    assert_users_applied,
    connect,
    invalid_indexes,
    open_transaction,
    schema_fingerprint,
    table_checksum,
)
from tests.support.spec_schema import BASELINE_SLUG, BASELINE_TABLES, SPEC_REVISIONS

OWNER = "add_owner_to_portfolios"
TOKEN_VERSION = "add_token_version_to_users"


def _baseline() -> str:
    return revision_for(BASELINE_SLUG).revision


def _last_spec_revision() -> str:
    return revision_for(SPEC_REVISIONS[-1].slug).revision


def _spec_schema_at(slug: str | None) -> Callable[[Connection], None]:
    return lambda conn: assert_schema_at(conn, slug)


def _token_version_applied(applied: bool) -> Callable[[Connection], None]:
    def check(conn: Connection) -> None:
        columns = {name for name, _ in catalog.columns(conn, "users")}
        assert ("token_version" in columns) is applied

    return check


def _owner_and_users_applied(conn: Connection) -> None:
    assert_owner_applied(conn)
    assert_users_applied(conn)


def _owner_and_users_absent(conn: Connection) -> None:
    assert_owner_absent(conn)
    assert not catalog.table_exists(conn, "users")


@dataclass(frozen=True)
class Blocked:
    """A run of revisions, one of which must lock a table a long reader holds."""

    command: str
    """upgrade or downgrade"""
    start: Callable[[], str]
    """The revision the database is at before the run."""
    target: Callable[[], str]
    """Where the run (and its re-run) goes: ``head`` or a revision."""
    table: str
    """The table the reader holds."""
    stops_at: Callable[[], str]
    """The revision current once the blocked run has failed."""
    stopped: Callable[[Connection], None]
    """The schema there."""
    finished: Callable[[Connection], None]
    """The schema once the re-run reached the target."""


BLOCKED = [
    pytest.param(
        Blocked(
            "upgrade",
            start=_baseline,
            target=lambda: "head",
            table="portfolio_snapshots",
            # The revision before it (a new table, which the reader does not block) completed.
            stops_at=lambda: revision_before("add_market_beta_to_snapshots"),
            stopped=_spec_schema_at("create_position_market_betas"),
            finished=_spec_schema_at(SPEC_REVISIONS[-1].slug),
        ),
        id="snapshot revisions, upgrade",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        Blocked(
            "downgrade",
            start=_last_spec_revision,
            target=_baseline,
            table="portfolio_snapshots",
            # position_volatility went; the volatility columns' revision could not take its
            # lock and is still fully in place, index included.
            stops_at=lambda: revision_for("add_volatility_to_snapshots").revision,
            stopped=_spec_schema_at("add_volatility_to_snapshots"),
            finished=_spec_schema_at(None),
        ),
        id="snapshot revisions, downgrade",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        Blocked(
            "upgrade",
            start=lambda: revision_before(OWNER),
            target=lambda: "head",
            table="portfolios",
            stops_at=lambda: revision_before(OWNER),
            stopped=assert_owner_absent,
            finished=assert_owner_applied,
        ),
        id="portfolios.owner_id, upgrade",
    ),
    pytest.param(
        Blocked(
            "downgrade",
            start=lambda: revision_for(OWNER).revision,
            target=lambda: revision_before("create_users"),
            table="portfolios",
            stops_at=lambda: revision_for(OWNER).revision,
            stopped=_owner_and_users_applied,
            finished=_owner_and_users_absent,
        ),
        id="portfolios.owner_id, downgrade",
    ),
    pytest.param(
        Blocked(
            "upgrade",
            start=lambda: revision_before(TOKEN_VERSION),
            target=lambda: "head",
            table="users",
            stops_at=lambda: revision_before(TOKEN_VERSION),
            stopped=_token_version_applied(False),
            finished=_token_version_applied(True),
        ),
        id="users.token_version, upgrade",
    ),
]


@pytest.mark.parametrize("run", BLOCKED)
def test_a_blocked_revision_fails_fast_names_the_reader_once_and_resumes(
    empty_database: TestDatabase, run: Blocked
) -> None:
    db = empty_database
    migrate_to(db.sync_url, run.start())
    target, stops_at = run.target(), run.stops_at()

    with open_transaction(db, long_reader(run.table)) as blocker:
        failed = alembic_cli(db, run.command, target, MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
        assert failed.returncode != 0
        assert_names_blocker(failed.output, blocker, run.table)

        current = alembic_cli(db, "current")
        assert current.returncode == 0
        assert stops_at in current.stdout, current.stdout
        assert current_revision(db.sync_url) == stops_at
        with connect(db) as conn:
            run.stopped(conn)
            assert invalid_indexes(conn) == []

    resumed = alembic_cli(db, run.command, target, MIGRATION_LOCK_TIMEOUT=FAST_LOCK_TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr
    assert current_revision(db.sync_url) == (head() if target == "head" else target)
    with connect(db) as conn:
        run.finished(conn)
        assert invalid_indexes(conn) == []


@dataclass(frozen=True)
class Killed:
    """A revision whose concurrent index build an upgrade is killed in the middle of."""

    slug: str
    index: str
    """The index it builds concurrently."""
    finished: Callable[[Connection], None]
    """The schema once a re-run reached head."""
    rows: list[str] = field(default_factory=list)
    """Statements that fill the tables first."""


KILLED = [
    pytest.param(
        Killed(
            "add_market_beta_to_snapshots",
            "idx_snapshots_beta",
            finished=_spec_schema_at(SPEC_REVISIONS[-1].slug),
        ),
        id="snapshots' beta index",
    ),
    pytest.param(
        Killed(
            OWNER,
            "ix_portfolios_owner_id",
            finished=assert_owner_applied,
            rows=[
                "INSERT INTO portfolios (name, equity_balance) "
                "SELECT 'Portfolio ' || g, 1000 * g FROM generate_series(1, 5) g"
            ],
        ),
        id="portfolios' owner index",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("run", KILLED)
def test_killed_during_a_concurrent_index_build_a_rerun_finishes_without_invalid_index(
    empty_database: TestDatabase, run: Killed
) -> None:
    db = empty_database
    migrate_to(db.sync_url, revision_before(run.slug))
    _seed(db, run.rows)
    killed = kill_upgrade_during_index_build(db)
    assert killed.index_name == run.index
    assert killed.invalid_after == [run.index]
    assert current_revision(db.sync_url) == revision_before(run.slug)

    rerun = alembic_cli(db, "upgrade", "head")
    assert rerun.returncode == 0, rerun.stderr
    assert current_revision(db.sync_url) == head()
    with connect(db) as conn:
        assert invalid_indexes(conn) == []
        run.finished(conn)


def test_upgrade_head_twice_is_a_no_op(empty_database: TestDatabase) -> None:
    db = empty_database
    first = alembic_cli(db, "upgrade", "head")
    assert first.returncode == 0, first.stderr
    with connect(db) as conn:
        before = schema_fingerprint(conn)

    again = alembic_cli(db, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stderr
    assert current_revision(db.sync_url) == head()
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
    assert current_revision(db.sync_url) == head()
    with connect(db) as conn:
        assert schema_fingerprint(conn) == schema
        assert table_checksum(conn, "positions", ["id", "symbol", "quantity"]) == rows
