"""create_position_volatility_table

Migration 5 (Phase 2): position-level realized volatility, HAR components and forecast,
trend and percentile; one row per (position, calculation_date).

Locks: a new table, plus SHARE ROW EXCLUSIVE on positions for the foreign key.
Downgrade: dropping the table drops its foreign key, which takes ACCESS EXCLUSIVE on
positions (readers wait too) for that instant, bounded by lock_timeout.

Revision ID: 28830d117e93
Revises: 47fec7c32870
Create Date: 2026-11-23 21:54:11.323368
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.migrations.ops import (
    create_updated_at_trigger,
    drop_updated_at_trigger,
    set_local_timeouts,
    timestamp_columns,
    uuid_primary_key,
)

revision: str = "28830d117e93"
down_revision: str | None = "47fec7c32870"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NONNEG = (
    "realized_vol_21d",
    "realized_vol_63d",
    "vol_daily",
    "vol_weekly",
    "vol_monthly",
    "expected_vol_21d",
)


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        "position_volatility",
        uuid_primary_key(),
        sa.Column("position_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("calculation_date", sa.Date(), nullable=False),
        sa.Column("realized_vol_21d", sa.Numeric(10, 4), nullable=True),
        sa.Column("realized_vol_63d", sa.Numeric(10, 4), nullable=True),
        sa.Column("vol_daily", sa.Numeric(10, 4), nullable=True),
        sa.Column("vol_weekly", sa.Numeric(10, 4), nullable=True),
        sa.Column("vol_monthly", sa.Numeric(10, 4), nullable=True),
        sa.Column("expected_vol_21d", sa.Numeric(10, 4), nullable=True),
        sa.Column("vol_trend", sa.String(20), nullable=True),
        sa.Column("vol_trend_strength", sa.Numeric(10, 4), nullable=True),
        sa.Column("vol_percentile", sa.Numeric(10, 4), nullable=True),
        sa.Column("observations", sa.Integer(), nullable=True),
        sa.Column("model_r_squared", sa.Numeric(10, 4), nullable=True),
        *timestamp_columns(),
        *(
            sa.CheckConstraint(f"{c} >= 0", name=op.f(f"ck_position_volatility_{c}_nonneg"))
            for c in NONNEG
        ),
        sa.CheckConstraint(
            "vol_trend IN ('increasing', 'decreasing', 'stable')",
            name=op.f("ck_position_volatility_vol_trend_allowed"),
        ),
        sa.CheckConstraint(
            "vol_trend_strength >= 0 AND vol_trend_strength <= 1",
            name=op.f("ck_position_volatility_vol_trend_strength_range"),
        ),
        sa.CheckConstraint(
            "vol_percentile >= 0 AND vol_percentile <= 1",
            name=op.f("ck_position_volatility_vol_percentile_range"),
        ),
        sa.CheckConstraint(
            "observations >= 0", name=op.f("ck_position_volatility_observations_nonneg")
        ),
        sa.CheckConstraint(
            "model_r_squared >= 0 AND model_r_squared <= 1",
            name=op.f("ck_position_volatility_model_r_squared_range"),
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["positions.id"],
            ondelete="CASCADE",
            name="fk_position_volatility_position_id_positions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_position_volatility"),
        sa.UniqueConstraint(
            "position_id", "calculation_date", name="uq_position_volatility_position_date"
        ),
        if_not_exists=True,
    )
    op.create_index(
        "ix_position_volatility_position_id",
        "position_volatility",
        ["position_id"],
        if_not_exists=True,
    )
    op.create_index(
        "ix_position_volatility_calculation_date",
        "position_volatility",
        ["calculation_date"],
        if_not_exists=True,
    )
    op.create_index(
        "ix_position_volatility_lookup",
        "position_volatility",
        ["position_id", "calculation_date"],
        if_not_exists=True,
    )
    create_updated_at_trigger("position_volatility")


def downgrade() -> None:
    set_local_timeouts()
    drop_updated_at_trigger("position_volatility")
    op.drop_table("position_volatility")
