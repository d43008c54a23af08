"""add_market_beta_to_snapshots

Migration 1 (Phase 0): portfolio-level market beta on portfolio_snapshots.
market_beta_direct is reserved for the Phase 3 direct regression of portfolio returns.

Locks: ACCESS EXCLUSIVE on portfolio_snapshots for a catalog-only change (nullable
columns without default, CHECKs added NOT VALID), bounded by lock_timeout. Then, outside
the transaction, VALIDATE (SHARE UPDATE EXCLUSIVE) and CREATE INDEX CONCURRENTLY, which
let writers continue. Re-entrant: a run interrupted after the first commit resumes.
Downgrade: one transaction under ACCESS EXCLUSIVE on portfolio_snapshots (drops the index,
the CHECKs by name and the columns; no rewrite), bounded by lock_timeout.

Revision ID: 251b3a0ee8a7
Revises: 8ab195bf3ed5
Create Date: 2026-11-23 21:54:06.144522
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

revision: str = "251b3a0ee8a7"
down_revision: str | None = "8ab195bf3ed5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolio_snapshots"
CHECKS = {
    "ck_portfolio_snapshots_market_beta_r_squared_range": (
        "market_beta_r_squared >= 0 AND market_beta_r_squared <= 1"
    ),
    "ck_portfolio_snapshots_market_beta_observations_nonneg": "market_beta_observations >= 0",
}


def upgrade() -> None:
    set_local_timeouts()
    op.add_column(TABLE, sa.Column("market_beta_weighted", sa.Numeric(10, 4)), if_not_exists=True)
    op.add_column(TABLE, sa.Column("market_beta_r_squared", sa.Numeric(10, 4)), if_not_exists=True)
    op.add_column(TABLE, sa.Column("market_beta_observations", sa.Integer()), if_not_exists=True)
    op.add_column(TABLE, sa.Column("market_beta_direct", sa.Numeric(10, 4)), if_not_exists=True)
    for name, condition in CHECKS.items():
        add_check_not_valid(TABLE, name, condition)
    validate_constraints(TABLE, list(CHECKS))
    create_index_concurrently(
        "idx_snapshots_beta", TABLE, ["portfolio_id", "calculation_date", "market_beta_weighted"]
    )


def downgrade() -> None:
    set_local_timeouts()
    # Inside the revision's transaction, not CONCURRENTLY: dropping the columns needs
    # ACCESS EXCLUSIVE anyway, and a concurrent drop cut short by lock_timeout would leave
    # the index INVALID while alembic_version still names this revision.
    op.drop_index("idx_snapshots_beta", table_name=TABLE, if_exists=True)
    for name in CHECKS:
        drop_check(TABLE, name)
    for column in (
        "market_beta_direct",
        "market_beta_observations",
        "market_beta_r_squared",
        "market_beta_weighted",
    ):
        op.drop_column(TABLE, column, if_exists=True)
