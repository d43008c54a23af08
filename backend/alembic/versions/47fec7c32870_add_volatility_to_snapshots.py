"""add_volatility_to_snapshots

Migration 4 (Phase 2): portfolio volatility on portfolio_snapshots, computed from the
portfolio's return series (never a weighted sum of position vols); trading-day windows.

Locks: ACCESS EXCLUSIVE on portfolio_snapshots for a catalog-only change (nullable
columns without default, CHECKs added NOT VALID), bounded by lock_timeout. Then, outside
the transaction, VALIDATE (SHARE UPDATE EXCLUSIVE) and CREATE INDEX CONCURRENTLY, which
let writers continue. Re-entrant: a run interrupted after the first commit resumes.
Downgrade: one transaction under ACCESS EXCLUSIVE on portfolio_snapshots (drops the index,
the CHECKs by name and the columns; no rewrite), bounded by lock_timeout.

Revision ID: 47fec7c32870
Revises: b813cbed0613
Create Date: 2026-11-23 21:54:10.093023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.migrations.ops import (
    add_check_not_valid,
    create_index_concurrently,
    drop_check,
    set_local_timeouts,
    validate_constraints,
)

revision: str = "47fec7c32870"
down_revision: str | None = "b813cbed0613"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolio_snapshots"
CHECKS = {
    "ck_portfolio_snapshots_realized_volatility_21d_nonneg": "realized_volatility_21d >= 0",
    "ck_portfolio_snapshots_realized_volatility_63d_nonneg": "realized_volatility_63d >= 0",
    "ck_portfolio_snapshots_expected_volatility_21d_nonneg": "expected_volatility_21d >= 0",
    "ck_portfolio_snapshots_volatility_trend_allowed": (
        "volatility_trend IN ('increasing', 'decreasing', 'stable')"
    ),
    "ck_portfolio_snapshots_volatility_percentile_range": (
        "volatility_percentile >= 0 AND volatility_percentile <= 1"
    ),
}


def upgrade() -> None:
    set_local_timeouts()
    op.add_column(
        TABLE, sa.Column("realized_volatility_21d", sa.Numeric(10, 4)), if_not_exists=True
    )
    op.add_column(
        TABLE, sa.Column("realized_volatility_63d", sa.Numeric(10, 4)), if_not_exists=True
    )
    op.add_column(
        TABLE, sa.Column("expected_volatility_21d", sa.Numeric(10, 4)), if_not_exists=True
    )
    op.add_column(TABLE, sa.Column("volatility_trend", sa.String(20)), if_not_exists=True)
    op.add_column(TABLE, sa.Column("volatility_percentile", sa.Numeric(10, 4)), if_not_exists=True)
    for name, condition in CHECKS.items():
        add_check_not_valid(TABLE, name, condition)
    validate_constraints(TABLE, list(CHECKS))
    create_index_concurrently(
        "idx_snapshots_volatility",
        TABLE,
        ["portfolio_id", "calculation_date", "realized_volatility_21d"],
    )


def downgrade() -> None:
    set_local_timeouts()
    # Inside the revision's transaction, not CONCURRENTLY: dropping the columns needs
    # ACCESS EXCLUSIVE anyway, and a concurrent drop cut short by lock_timeout would leave
    # the index INVALID while alembic_version still names this revision.
    op.drop_index("idx_snapshots_volatility", table_name=TABLE, if_exists=True)
    for name in CHECKS:
        drop_check(TABLE, name)
    for column in (
        "volatility_percentile",
        "volatility_trend",
        "expected_volatility_21d",
        "realized_volatility_63d",
        "realized_volatility_21d",
    ):
        op.drop_column(TABLE, column, if_exists=True)
