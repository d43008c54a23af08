"""add_stale_from_to_portfolios

Stale marks: portfolios.stale_from is the earliest date whose stored figures a change of
the book (a position added, corrected, closed or removed) has made out of date; NULL when
they are current. The API shows it beside the figures, and
scripts/calculate_risk_metrics.py --stale recomputes from it and clears it.

Locks: ACCESS EXCLUSIVE on portfolios for a catalog-only change (a nullable column with no
default: no rewrite, no scan), one short transaction bounded by lock_timeout; re-entrant.

Revision ID: 5d1215dbe34e
Revises: 65687f56f5fd
Create Date: 2026-12-06 06:30:01.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.migrations.ops import set_local_timeouts

revision: str = "5d1215dbe34e"
down_revision: str | None = "65687f56f5fd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolios"


def upgrade() -> None:
    set_local_timeouts()
    op.add_column(TABLE, sa.Column("stale_from", sa.Date()), if_not_exists=True)


def downgrade() -> None:
    set_local_timeouts()
    op.drop_column(TABLE, "stale_from", if_exists=True)
