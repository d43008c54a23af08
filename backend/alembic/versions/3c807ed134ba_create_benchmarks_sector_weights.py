"""create_benchmarks_sector_weights

Migration 2 (Phase 1): S&P 500 (and other benchmarks') GICS sector weights, fetched from
FMP by scripts/seed_benchmark_weights.py; history kept via asof_date.

Locks: creates a new table only; no existing table is locked.

Revision ID: 3c807ed134ba
Revises: 251b3a0ee8a7
Create Date: 2026-11-23 21:54:07.515424
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.migrations.ops import (
    create_updated_at_trigger,
    drop_updated_at_trigger,
    set_local_timeouts,
    timestamp_columns,
    uuid_primary_key,
)

revision: str = "3c807ed134ba"
down_revision: str | None = "251b3a0ee8a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        "benchmarks_sector_weights",
        uuid_primary_key(),
        sa.Column("benchmark_code", sa.String(32), nullable=False),
        sa.Column("asof_date", sa.Date(), nullable=False),
        sa.Column("sector", sa.String(64), nullable=False),
        sa.Column("weight", sa.Numeric(12, 6), nullable=False),
        sa.Column("market_cap", sa.Numeric(20, 2), nullable=True),
        sa.Column("num_constituents", sa.Integer(), nullable=True),
        sa.Column("data_source", sa.String(32), server_default="FMP", nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint(
            "weight >= 0 AND weight <= 1", name=op.f("ck_benchmarks_sector_weights_weight_range")
        ),
        sa.CheckConstraint(
            "market_cap >= 0", name=op.f("ck_benchmarks_sector_weights_market_cap_nonneg")
        ),
        sa.CheckConstraint(
            "num_constituents >= 0",
            name=op.f("ck_benchmarks_sector_weights_num_constituents_nonneg"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_benchmarks_sector_weights"),
        sa.UniqueConstraint(
            "benchmark_code",
            "asof_date",
            "sector",
            name="uq_benchmarks_sector_weights_code_date_sector",
        ),
        if_not_exists=True,
    )
    op.create_index(
        "idx_benchmark_lookup",
        "benchmarks_sector_weights",
        ["benchmark_code", "asof_date"],
        if_not_exists=True,
    )
    op.create_index(
        "idx_benchmark_sector",
        "benchmarks_sector_weights",
        ["benchmark_code", "sector", "asof_date"],
        if_not_exists=True,
    )
    create_updated_at_trigger("benchmarks_sector_weights")


def downgrade() -> None:
    set_local_timeouts()
    drop_updated_at_trigger("benchmarks_sector_weights")
    op.drop_table("benchmarks_sector_weights")
