"""The tail-risk revision: up and down with snapshot rows in the table, checked in
pg_catalog; its CHECKs hold once validated. Found by slug, so later revisions keep these
tests valid."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from devtools.databases import TestDatabase, alembic_config
from tests.support import catalog
from tests.support.revisions import current_revision, migrate_to, revision_for
from tests.support.schema_state import connect, table_checksum

SLUG = "add_tail_risk_to_snapshots"
ADDED = {
    "var_95_1d": "numeric(10,6)",
    "var_99_1d": "numeric(10,6)",
    "expected_shortfall_975_1d": "numeric(10,6)",
    "var_method": "character varying(32)",
    "max_drawdown_252d": "numeric(10,6)",
    "current_drawdown": "numeric(10,6)",
    "sharpe_252d": "numeric(10,4)",
    "sortino_252d": "numeric(10,4)",
    "realized_max_drawdown_252d": "numeric(10,6)",
}
KEPT = ["id", "portfolio_id", "calculation_date", "market_beta_weighted", "hhi"]


def _seed_snapshots(conn: Connection, rows: int) -> None:
    portfolio = conn.execute(
        text("INSERT INTO portfolios (name) VALUES ('Loaded') RETURNING id")
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO portfolio_snapshots (portfolio_id, calculation_date,"
            " market_beta_weighted, hhi) SELECT :p, DATE '2020-01-01' + g, g / 1000.0, g"
            " FROM generate_series(1, :n) g"
        ),
        {"p": portfolio, "n": rows},
    )
    conn.commit()


def test_tail_risk_columns_are_added_empty_and_removed_keeping_the_snapshots(
    empty_database: TestDatabase,
) -> None:
    db = empty_database
    script = revision_for(SLUG)
    migrate_to(db.sync_url, script.down_revision)  # type: ignore[arg-type]
    with connect(db) as conn:
        _seed_snapshots(conn, 500)
        before = table_checksum(conn, "portfolio_snapshots", KEPT)

    migrate_to(db.sync_url, script.revision)
    with connect(db) as conn:
        live = dict(catalog.columns(conn, "portfolio_snapshots"))
        assert {name: live.get(name) for name in ADDED} == ADDED
        checks = catalog.check_constraints(conn, "portfolio_snapshots")
        assert {name: checks.get(name) for name in script.module.CHECKS} == dict.fromkeys(
            script.module.CHECKS, True
        )  # validated
        assert table_checksum(conn, "portfolio_snapshots", KEPT) == before
        stored = (
            f"SELECT count(*) FROM portfolio_snapshots WHERE num_nonnulls({', '.join(ADDED)}) > 0"  # noqa: S608 (module constants)
        )
        nulls = conn.execute(text(stored)).scalar_one()
        assert nulls == 0  # nullable, no default: existing rows hold NULL
        conn.execute(
            text(
                "UPDATE portfolio_snapshots SET var_95_1d = 0.012345, var_99_1d = 0.023456,"
                " expected_shortfall_975_1d = 0.025, var_method = 'FHS_EWMA90_GPD',"
                " max_drawdown_252d = 0.2, current_drawdown = 0, sharpe_252d = -1.2345,"
                " sortino_252d = 2.5, realized_max_drawdown_252d = 0.15"
                " WHERE calculation_date = DATE '2020-01-02'"
            )
        )
        conn.commit()
        for column in (*script.module.NON_NEGATIVE,):
            with pytest.raises(IntegrityError, match=f"ck_portfolio_snapshots_{column}_nonneg"):
                conn.execute(text(f"UPDATE portfolio_snapshots SET {column} = -0.01"))  # noqa: S608
            conn.rollback()

    command.downgrade(alembic_config(db.sync_url), "-1")
    assert current_revision(db.sync_url) == script.down_revision
    with connect(db) as conn:
        names = {name for name, _ in catalog.columns(conn, "portfolio_snapshots")}
        assert names.isdisjoint(ADDED)
        assert set(script.module.CHECKS).isdisjoint(
            catalog.check_constraints(conn, "portfolio_snapshots")
        )
        assert table_checksum(conn, "portfolio_snapshots", KEPT) == before

    migrate_to(db.sync_url, script.revision)  # and up again
    with connect(db) as conn:
        assert table_checksum(conn, "portfolio_snapshots", KEPT) == before


def test_the_upgrade_resumes_after_an_interruption_between_its_steps(
    empty_database: TestDatabase,
) -> None:
    """Columns and a CHECK already there (a run cut after its first commit): the revision
    runs again to the end."""
    db = empty_database
    script = revision_for(SLUG)
    migrate_to(db.sync_url, script.down_revision)  # type: ignore[arg-type]
    with connect(db) as conn:
        conn.execute(text("ALTER TABLE portfolio_snapshots ADD COLUMN var_95_1d numeric(10,6)"))
        conn.execute(
            text(
                "ALTER TABLE portfolio_snapshots ADD CONSTRAINT"
                " ck_portfolio_snapshots_var_95_1d_nonneg CHECK (var_95_1d >= 0) NOT VALID"
            )
        )
        conn.commit()
    migrate_to(db.sync_url, script.revision)
    with connect(db) as conn:
        checks = catalog.check_constraints(conn, "portfolio_snapshots")
        assert all(checks[name] for name in script.module.CHECKS)
