"""add_freshness_to_snapshots

What a snapshot's figures rest on: beta_coverage is the share of gross exposure whose
position has a beta, where a position left out for want of a fresh price (its last price
more than STALE_PRICE_TRADING_DAYS trading days before the date, or none) counts as
exposure without one; excluded_positions names each position left out, with its reason
and its last price date. Both NULL on snapshots computed before (and excluded_positions
when no position was left out).

Locks: ACCESS EXCLUSIVE on portfolio_snapshots for a catalog-only change (nullable
columns without default, the CHECK added NOT VALID), bounded by lock_timeout. Then,
outside the transaction, VALIDATE (SHARE UPDATE EXCLUSIVE), which lets writers continue.
Re-entrant: a run interrupted after the first commit resumes. Downgrade: one transaction
under ACCESS EXCLUSIVE on portfolio_snapshots (drops the CHECK by name and the columns; no
rewrite), bounded by lock_timeout.

Revision ID: 865f1e66c95a
Revises: 571df0cdcb37
Create Date: 2026-12-06 08:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.migrations.ops import (
    add_check_not_valid,
    drop_check,
    set_local_timeouts,
    validate_constraints,
)

revision: str = "865f1e66c95a"
down_revision: str | None = "571df0cdcb37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolio_snapshots"
CHECKS = {
    "ck_portfolio_snapshots_beta_coverage_range": "beta_coverage >= 0 AND beta_coverage <= 1",
}


def upgrade() -> None:
    set_local_timeouts()
    op.add_column(TABLE, sa.Column("beta_coverage", sa.Numeric(10, 4)), if_not_exists=True)
    op.add_column(TABLE, sa.Column("excluded_positions", postgresql.JSONB()), if_not_exists=True)
    for name, condition in CHECKS.items():
        add_check_not_valid(TABLE, name, condition)
    validate_constraints(TABLE, list(CHECKS))


def downgrade() -> None:
    set_local_timeouts()
    for name in CHECKS:
        drop_check(TABLE, name)
    for column in ("excluded_positions", "beta_coverage"):
        op.drop_column(TABLE, column, if_exists=True)
