"""create_core_portfolio_tables

Baseline: the core tables the risk-metrics revisions build on (portfolios, positions,
portfolio_snapshots) and the ``set_updated_at()`` trigger function every table uses.

Locks: creates new objects only; no existing table is locked.

Revision ID: 775139247730
Revises:
Create Date: 2026-11-23 21:54:03.076625
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.migrations.ops import (
    create_updated_at_function,
    create_updated_at_trigger,
    drop_updated_at_function,
    drop_updated_at_trigger,
    set_local_timeouts,
    timestamp_columns,
    uuid_primary_key,
)

revision: str = "775139247730"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_local_timeouts()
    create_updated_at_function()
    op.create_table(
        "portfolios",
        uuid_primary_key(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("currency", sa.String(3), server_default="USD", nullable=False),
        sa.Column("equity_balance", sa.Numeric(16, 2), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        *timestamp_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_portfolios"),
        if_not_exists=True,
    )
    op.create_table(
        "positions",
        uuid_primary_key(),
        sa.Column("portfolio_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("underlying_symbol", sa.String(20), nullable=True),
        sa.Column("position_type", sa.String(10), server_default="LONG", nullable=False),
        sa.Column("quantity", sa.Numeric(20, 6), nullable=False),
        sa.Column("entry_price", sa.Numeric(16, 4), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("exit_price", sa.Numeric(16, 4), nullable=True),
        sa.Column("exit_date", sa.Date(), nullable=True),
        sa.Column("last_price", sa.Numeric(16, 4), nullable=True),
        sa.Column("market_value", sa.Numeric(20, 2), nullable=True),
        sa.Column("strike_price", sa.Numeric(16, 4), nullable=True),
        sa.Column("expiration_date", sa.Date(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        *timestamp_columns(),
        sa.CheckConstraint(
            "position_type IN ('LONG', 'SHORT', 'LC', 'LP', 'SC', 'SP')",
            name=op.f("ck_positions_position_type_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
            ondelete="CASCADE",
            name="fk_positions_portfolio_id_portfolios",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_positions"),
        if_not_exists=True,
    )
    op.create_index("ix_positions_portfolio_id", "positions", ["portfolio_id"], if_not_exists=True)
    op.create_index("ix_positions_symbol", "positions", ["symbol"], if_not_exists=True)
    op.create_table(
        "portfolio_snapshots",
        uuid_primary_key(),
        sa.Column("portfolio_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("calculation_date", sa.Date(), nullable=False),
        sa.Column("total_value", sa.Numeric(20, 2), nullable=True),
        sa.Column("cash_value", sa.Numeric(20, 2), nullable=True),
        sa.Column("long_value", sa.Numeric(20, 2), nullable=True),
        sa.Column("short_value", sa.Numeric(20, 2), nullable=True),
        sa.Column("gross_exposure", sa.Numeric(20, 2), nullable=True),
        sa.Column("net_exposure", sa.Numeric(20, 2), nullable=True),
        sa.Column("daily_pnl", sa.Numeric(20, 2), nullable=True),
        sa.Column("daily_return", sa.Numeric(12, 6), nullable=True),
        sa.Column("num_positions", sa.Integer(), nullable=True),
        *timestamp_columns(),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
            ondelete="CASCADE",
            name="fk_portfolio_snapshots_portfolio_id_portfolios",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_portfolio_snapshots"),
        sa.UniqueConstraint(
            "portfolio_id", "calculation_date", name="uq_portfolio_snapshots_portfolio_date"
        ),
        if_not_exists=True,
    )
    for table in ("portfolios", "positions", "portfolio_snapshots"):
        create_updated_at_trigger(table)


def downgrade() -> None:
    set_local_timeouts()
    for table in ("portfolio_snapshots", "positions", "portfolios"):
        drop_updated_at_trigger(table)
    op.drop_table("portfolio_snapshots")
    op.drop_index("ix_positions_symbol", table_name="positions")
    op.drop_index("ix_positions_portfolio_id", table_name="positions")
    op.drop_table("positions")
    op.drop_table("portfolios")
    drop_updated_at_function()
