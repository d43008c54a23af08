"""create_daily_prices

End-of-day prices per symbol and trading date: the series the risk engine turns into
daily returns for betas, volatility and the portfolio return series. Filled by the FMP
and CSV loaders and by the demo-data script; one row per (symbol, date).

Locks: a new table only; no existing table is locked (no foreign keys).

Revision ID: 1bdda5eaef10
Revises: 28830d117e93
Create Date: 2026-11-23 22:05:37.931066
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

revision: str = "1bdda5eaef10"
down_revision: str | None = "28830d117e93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        "daily_prices",
        uuid_primary_key(),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("close", sa.Numeric(18, 6), nullable=False),
        sa.Column("adjusted_close", sa.Numeric(18, 6), nullable=True),
        sa.Column("volume", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(32), server_default="FMP", nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint("close > 0", name=op.f("ck_daily_prices_close_positive")),
        sa.CheckConstraint(
            "adjusted_close > 0", name=op.f("ck_daily_prices_adjusted_close_positive")
        ),
        sa.CheckConstraint("volume >= 0", name=op.f("ck_daily_prices_volume_nonneg")),
        sa.CheckConstraint(
            "source IN ('FMP', 'CSV', 'DEMO')", name=op.f("ck_daily_prices_source_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_daily_prices"),
        # Its index also serves the engine's per-symbol date-range reads.
        sa.UniqueConstraint("symbol", "date", name="uq_daily_prices_symbol_date"),
        if_not_exists=True,
    )
    create_updated_at_trigger("daily_prices")


def downgrade() -> None:
    set_local_timeouts()
    drop_updated_at_trigger("daily_prices")
    op.drop_table("daily_prices")
