"""create_security_profiles

What each symbol is: its GICS sector (normalised from the provider's label, NULL for
ETFs and unclassified securities) and whether it is an ETF. The risk engine reads it for
portfolio sector exposure; one row per symbol.

Locks: a new table only; no existing table is locked (no foreign keys).

Revision ID: ca76b929f4d1
Revises: 1bdda5eaef10
Create Date: 2026-11-23 22:05:47.863777
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

revision: str = "ca76b929f4d1"
down_revision: str | None = "1bdda5eaef10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported: a revision must not change when app code does.
GICS_SECTORS = (
    "'Communication Services', 'Consumer Discretionary', 'Consumer Staples', 'Energy', "
    "'Financials', 'Health Care', 'Industrials', 'Information Technology', 'Materials', "
    "'Real Estate', 'Utilities'"
)


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        "security_profiles",
        uuid_primary_key(),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("sector", sa.String(64), nullable=True),
        sa.Column("industry", sa.String(128), nullable=True),
        sa.Column("is_etf", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("source", sa.String(32), server_default="FMP", nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint(
            f"sector IN ({GICS_SECTORS})", name=op.f("ck_security_profiles_sector_allowed")
        ),
        sa.CheckConstraint(
            "source IN ('FMP', 'CSV', 'DEMO')", name=op.f("ck_security_profiles_source_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_security_profiles"),
        sa.UniqueConstraint("symbol", name="uq_security_profiles_symbol"),
        if_not_exists=True,
    )
    create_updated_at_trigger("security_profiles")


def downgrade() -> None:
    set_local_timeouts()
    drop_updated_at_trigger("security_profiles")
    op.drop_table("security_profiles")
