"""add_benchmark_code_to_portfolios

The benchmark each portfolio is held against: portfolios.benchmark_code, one of the known
benchmark codes ('SP500', 'NDX', 'DJIA'), 'SP500' unless set. GET /risk measures the
sector over/underweights against it unless its ``benchmark`` parameter names another.
Existing portfolios get 'SP500', the benchmark they were compared with until now.

Locks, upgrading:
1. ADD COLUMN with a constant default, nullable: catalog-only on PostgreSQL 11+ (existing
   rows read the default, nothing is rewritten or scanned); two CHECKs added NOT VALID (no
   scan): NOT NULL and the known codes. ACCESS EXCLUSIVE on portfolios for these catalog
   changes only, in one short transaction bounded by lock_timeout.
2. VALIDATE both (SHARE UPDATE EXCLUSIVE: writers continue) scans the table once.
3. SET NOT NULL under ACCESS EXCLUSIVE without a scan (PostgreSQL 12+ takes the validated
   CHECK as its proof); the NOT NULL CHECK, now redundant, is dropped.
Re-entrant: a run cut short after any step resumes.

A new benchmark code needs a revision that replaces the codes' CHECK (NOT VALID, then
VALIDATE), as this one adds it.

Downgrade: drops the column and its CHECK (ACCESS EXCLUSIVE, catalog-only); the choices
are lost, every portfolio is compared with the S&P 500 again.

Revision ID: e5a0c3b7d921
Revises: f938bab6dd92
Create Date: 2026-12-06 08:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.migrations.ops import (
    add_check_not_valid,
    set_local_timeouts,
    validate_constraints,
)

revision: str = "e5a0c3b7d921"
down_revision: str | None = "f938bab6dd92"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolios"
COLUMN = "benchmark_code"
# Frozen here: the codes known when this revision was written.
CODES_CHECK = "ck_portfolios_benchmark_code_allowed"
CODES = "benchmark_code IN ('SP500', 'NDX', 'DJIA')"
NOT_NULL_CHECK = "ck_portfolios_benchmark_code_not_null"


def upgrade() -> None:
    set_local_timeouts()
    op.add_column(
        TABLE,
        sa.Column(COLUMN, sa.String(length=32), server_default="SP500"),
        if_not_exists=True,
    )
    add_check_not_valid(TABLE, NOT_NULL_CHECK, f"{COLUMN} IS NOT NULL")
    add_check_not_valid(TABLE, CODES_CHECK, CODES)
    validate_constraints(TABLE, [NOT_NULL_CHECK, CODES_CHECK])
    set_local_timeouts()
    op.alter_column(TABLE, COLUMN, nullable=False)
    # Scaffolding for SET NOT NULL: NOT NULL now says it.
    op.execute(
        "-- squawk-ignore ban-drop-constraint\n"
        f'ALTER TABLE "{TABLE}" DROP CONSTRAINT IF EXISTS "{NOT_NULL_CHECK}"'
    )


def downgrade() -> None:
    set_local_timeouts()
    op.drop_column(TABLE, COLUMN, if_exists=True)
