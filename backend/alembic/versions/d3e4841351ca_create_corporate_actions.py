"""create_corporate_actions

Splits and cash dividends per symbol and ex-date, as the price provider (FMP's splits and
dividends endpoints) or a prices CSV reports them. They say how a close as traded becomes
the total-return close, and how many shares a holder of one share on a date holds on a
later date (the quantity to value past dates with). One row per symbol, ex-date and kind.

Locks: a new table only; no existing table is locked (no foreign keys).

Revision ID: d3e4841351ca
Revises: aa336c5aabdf
Create Date: 2026-12-06 07:10:00.000000
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

revision: str = "d3e4841351ca"
down_revision: str | None = "aa336c5aabdf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "corporate_actions"


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        TABLE,
        uuid_primary_key(),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("ex_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("split_numerator", sa.Numeric(18, 6), nullable=True),
        sa.Column("split_denominator", sa.Numeric(18, 6), nullable=True),
        sa.Column("dividend_amount", sa.Numeric(18, 6), nullable=True),
        sa.Column("source", sa.String(32), server_default="FMP", nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint(
            "kind IN ('split', 'dividend')", name=op.f("ck_corporate_actions_kind_allowed")
        ),
        sa.CheckConstraint(
            "(kind = 'split') = (split_numerator IS NOT NULL AND split_denominator IS NOT NULL)",
            name=op.f("ck_corporate_actions_split_has_ratio"),
        ),
        sa.CheckConstraint(
            "(kind = 'dividend') = (dividend_amount IS NOT NULL)",
            name=op.f("ck_corporate_actions_dividend_has_amount"),
        ),
        sa.CheckConstraint(
            "split_numerator > 0", name=op.f("ck_corporate_actions_split_numerator_positive")
        ),
        sa.CheckConstraint(
            "split_denominator > 0", name=op.f("ck_corporate_actions_split_denominator_positive")
        ),
        sa.CheckConstraint(
            "dividend_amount > 0", name=op.f("ck_corporate_actions_dividend_amount_positive")
        ),
        sa.CheckConstraint(
            "source IN ('FMP', 'CSV', 'DEMO')", name=op.f("ck_corporate_actions_source_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_corporate_actions"),
        # Its index also serves every read of a symbol's actions (symbol leads).
        sa.UniqueConstraint(
            "symbol", "ex_date", "kind", name="uq_corporate_actions_symbol_ex_date_kind"
        ),
        if_not_exists=True,
    )
    create_updated_at_trigger(TABLE)


def downgrade() -> None:
    set_local_timeouts()
    drop_updated_at_trigger(TABLE)
    op.drop_table(TABLE, if_exists=True)
