"""add_sector_concentration_to_snapshots

Migration 3 (Phase 1): sector exposure (JSONB of GICS weights) and concentration metrics
(HHI, effective number of positions, top-3/top-10 weight sums) on portfolio_snapshots.

Locks: ACCESS EXCLUSIVE on portfolio_snapshots for a catalog-only change (nullable
columns without default, CHECKs added NOT VALID), bounded by lock_timeout; VALIDATE runs
afterwards outside the transaction under SHARE UPDATE EXCLUSIVE.
Downgrade: one transaction under ACCESS EXCLUSIVE on portfolio_snapshots (drops the CHECKs
by name and the columns; no rewrite), bounded by lock_timeout.

Revision ID: b813cbed0613
Revises: 3c807ed134ba
Create Date: 2026-11-23 21:54:08.824276
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

revision: str = "b813cbed0613"
down_revision: str | None = "3c807ed134ba"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolio_snapshots"
CHECKS = {
    "ck_portfolio_snapshots_hhi_range": "hhi >= 0 AND hhi <= 10000",
    "ck_portfolio_snapshots_effective_num_positions_nonneg": "effective_num_positions >= 0",
    "ck_portfolio_snapshots_top_3_concentration_range": (
        "top_3_concentration >= 0 AND top_3_concentration <= 1"
    ),
    "ck_portfolio_snapshots_top_10_concentration_range": (
        "top_10_concentration >= 0 AND top_10_concentration <= 1"
    ),
}


def upgrade() -> None:
    set_local_timeouts()
    op.add_column(TABLE, sa.Column("sector_exposure", postgresql.JSONB()), if_not_exists=True)
    op.add_column(TABLE, sa.Column("hhi", sa.Numeric(10, 2)), if_not_exists=True)
    op.add_column(
        TABLE, sa.Column("effective_num_positions", sa.Numeric(10, 2)), if_not_exists=True
    )
    op.add_column(TABLE, sa.Column("top_3_concentration", sa.Numeric(10, 4)), if_not_exists=True)
    op.add_column(TABLE, sa.Column("top_10_concentration", sa.Numeric(10, 4)), if_not_exists=True)
    for name, condition in CHECKS.items():
        add_check_not_valid(TABLE, name, condition)
    validate_constraints(TABLE, list(CHECKS))


def downgrade() -> None:
    set_local_timeouts()
    for name in CHECKS:
        drop_check(TABLE, name)
    for column in (
        "top_10_concentration",
        "top_3_concentration",
        "effective_num_positions",
        "hhi",
        "sector_exposure",
    ):
        op.drop_column(TABLE, column, if_exists=True)
