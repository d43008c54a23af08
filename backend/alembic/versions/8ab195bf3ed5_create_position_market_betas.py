"""create_position_market_betas

Migration 0 (Phase 0): position-level market betas with full OLS statistics, one row per
(portfolio, position, calc_date, method, window_days); history kept via calc_date.

Locks: a new table, plus SHARE ROW EXCLUSIVE on portfolios and positions for the two
foreign keys (blocks their writers only for the instant the constraint is added).
Downgrade: dropping the table drops its foreign keys, which takes ACCESS EXCLUSIVE on
portfolios and positions (readers wait too) for that instant, bounded by lock_timeout.

Revision ID: 8ab195bf3ed5
Revises: 775139247730
Create Date: 2026-11-23 21:54:04.762945
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

revision: str = "8ab195bf3ed5"
down_revision: str | None = "775139247730"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        "position_market_betas",
        uuid_primary_key(),
        sa.Column("portfolio_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("position_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("calc_date", sa.Date(), nullable=False),
        sa.Column("beta", sa.Numeric(12, 6), nullable=False),
        sa.Column("alpha", sa.Numeric(12, 6), nullable=True),
        sa.Column("r_squared", sa.Numeric(12, 6), nullable=True),
        sa.Column("std_error", sa.Numeric(12, 6), nullable=True),
        sa.Column("p_value", sa.Numeric(12, 6), nullable=True),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), server_default="90", nullable=False),
        sa.Column("method", sa.String(32), server_default="OLS_SIMPLE", nullable=False),
        sa.Column("market_index", sa.String(16), server_default="SPY", nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint(
            "r_squared >= 0 AND r_squared <= 1",
            name=op.f("ck_position_market_betas_r_squared_range"),
        ),
        sa.CheckConstraint(
            "p_value >= 0 AND p_value <= 1", name=op.f("ck_position_market_betas_p_value_range")
        ),
        sa.CheckConstraint(
            "std_error >= 0", name=op.f("ck_position_market_betas_std_error_nonneg")
        ),
        sa.CheckConstraint(
            "observations >= 0", name=op.f("ck_position_market_betas_observations_nonneg")
        ),
        sa.CheckConstraint(
            "window_days >= 0", name=op.f("ck_position_market_betas_window_days_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
            ondelete="CASCADE",
            name="fk_position_market_betas_portfolio_id_portfolios",
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["positions.id"],
            ondelete="CASCADE",
            name="fk_position_market_betas_position_id_positions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_position_market_betas"),
        sa.UniqueConstraint(
            "portfolio_id",
            "position_id",
            "calc_date",
            "method",
            "window_days",
            name="uq_position_market_betas_calc",
        ),
        if_not_exists=True,
    )
    # A new, empty table: plain CREATE INDEX inside the transaction blocks nobody.
    op.create_index(
        "idx_pos_beta_lookup",
        "position_market_betas",
        ["portfolio_id", "calc_date"],
        if_not_exists=True,
    )
    op.create_index(
        "idx_pos_beta_position",
        "position_market_betas",
        ["position_id", "calc_date"],
        if_not_exists=True,
    )
    op.create_index(
        "idx_pos_beta_created", "position_market_betas", ["created_at"], if_not_exists=True
    )
    create_updated_at_trigger("position_market_betas")


def downgrade() -> None:
    set_local_timeouts()
    drop_updated_at_trigger("position_market_betas")
    op.drop_table("position_market_betas")
