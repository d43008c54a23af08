"""add_tail_risk_to_snapshots

Tail risk and performance on portfolio_snapshots: one-day value at risk (95 %, 99 %) and
expected shortfall (97.5 %) as positive fractions of equity, the model that produced them
(var_method), the 252-day maximum and the current drawdown, Sharpe and Sortino over 252
days (from the holdings-based return series, today's book applied to past returns), and
the realized maximum drawdown of the book as it was held each day (named apart).

Locks: ACCESS EXCLUSIVE on portfolio_snapshots for a catalog-only change (nullable
columns without default, CHECKs added NOT VALID), bounded by lock_timeout. Then, outside
the transaction, VALIDATE (SHARE UPDATE EXCLUSIVE), which lets writers continue.
Re-entrant: a run interrupted after the first commit resumes. Downgrade: one transaction
under ACCESS EXCLUSIVE on portfolio_snapshots (drops the CHECKs by name and the columns;
no rewrite), bounded by lock_timeout.

Revision ID: 12ddc2b7cb58
Revises: e5a0c3b7d921
Create Date: 2026-12-06 08:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.migrations.ops import (
    add_check_not_valid,
    drop_check,
    set_local_timeouts,
    validate_constraints,
)

revision: str = "12ddc2b7cb58"
down_revision: str | None = "e5a0c3b7d921"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "portfolio_snapshots"
COLUMNS: dict[str, sa.types.TypeEngine[object]] = {
    "var_95_1d": sa.Numeric(10, 6),
    "var_99_1d": sa.Numeric(10, 6),
    "expected_shortfall_975_1d": sa.Numeric(10, 6),
    "var_method": sa.String(32),
    "max_drawdown_252d": sa.Numeric(10, 6),
    "current_drawdown": sa.Numeric(10, 6),
    "sharpe_252d": sa.Numeric(10, 4),
    "sortino_252d": sa.Numeric(10, 4),
    "realized_max_drawdown_252d": sa.Numeric(10, 6),
}
NON_NEGATIVE = (
    "var_95_1d",
    "var_99_1d",
    "expected_shortfall_975_1d",
    "max_drawdown_252d",
    "current_drawdown",
    "realized_max_drawdown_252d",
)
CHECKS = {f"ck_portfolio_snapshots_{c}_nonneg": f"{c} >= 0" for c in NON_NEGATIVE}


def upgrade() -> None:
    set_local_timeouts()
    for name, type_ in COLUMNS.items():
        op.add_column(TABLE, sa.Column(name, type_), if_not_exists=True)
    for name, condition in CHECKS.items():
        add_check_not_valid(TABLE, name, condition)
    validate_constraints(TABLE, list(CHECKS))


def downgrade() -> None:
    set_local_timeouts()
    for name in CHECKS:
        drop_check(TABLE, name)
    for column in reversed(COLUMNS):
        op.drop_column(TABLE, column, if_exists=True)
