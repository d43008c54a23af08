"""create_factor_exposures

Factor exposures (issue 25): each position's loadings on the style factors of
app/factors/factors.toml (``position_factor_exposures``) and each portfolio's
(``portfolio_factor_exposures``), one row per (position or portfolio, date, factor); an
exposure that could not be estimated is NULL with its reason.

The position table takes seven rows per position and date, so it is keyed by what it is
read and replaced by (portfolio, date, position, factor) with no surrogate id or second
index, and its one foreign key is the position's (which cascades from the portfolio);
rows are replaced, never updated: created_at only.

Locks: two new, empty tables (their CHECKs and keys cost nothing on them); the foreign
keys take SHARE ROW EXCLUSIVE on portfolios and positions for the catalog change only,
bounded by lock_timeout (readers go on; writers of those tables wait that instant).
Downgrade: dropping the tables drops their foreign keys, which takes ACCESS EXCLUSIVE on
portfolios and positions for that instant, bounded by lock_timeout.

Revision ID: f938bab6dd92
Revises: 865f1e66c95a
Create Date: 2026-12-06 08:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.migrations.ops import set_local_timeouts

revision: str = "f938bab6dd92"
down_revision: str | None = "865f1e66c95a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITIONS = "position_factor_exposures"
PORTFOLIOS = "portfolio_factor_exposures"
ESTIMATORS = "estimator IN ('OLS', 'RIDGE')"


def _figures() -> list[sa.Column[object]]:
    """The columns both tables hold, after their keys."""
    return [
        sa.Column("calculation_date", sa.Date(), nullable=False),
        sa.Column("factor", sa.String(32), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("exposure", sa.Numeric(12, 6), nullable=True),
        sa.Column("r_squared", sa.Numeric(12, 6), nullable=True),
        sa.Column("specific_volatility", sa.Numeric(12, 6), nullable=True),
        sa.Column("observations", sa.Integer(), nullable=True),
        sa.Column("estimator", sa.String(8), nullable=True),
        sa.Column("null_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def _checks(table: str) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint(
            "r_squared >= 0 AND r_squared <= 1", name=op.f(f"ck_{table}_r_squared_range")
        ),
        sa.CheckConstraint(
            "specific_volatility >= 0", name=op.f(f"ck_{table}_specific_volatility_nonneg")
        ),
        sa.CheckConstraint("observations >= 0", name=op.f(f"ck_{table}_observations_nonneg")),
        sa.CheckConstraint("window_days > 0", name=op.f(f"ck_{table}_window_days_positive")),
        sa.CheckConstraint(ESTIMATORS, name=op.f(f"ck_{table}_estimator_allowed")),
        sa.CheckConstraint(
            "exposure IS NOT NULL OR null_reason IS NOT NULL",
            name=op.f(f"ck_{table}_exposure_explained"),
        ),
    ]


def _portfolio_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["portfolio_id"],
        ["portfolios.id"],
        ondelete="CASCADE",
        name=op.f(f"fk_{table}_portfolio_id_portfolios"),
    )


def upgrade() -> None:
    set_local_timeouts()
    op.create_table(
        POSITIONS,
        sa.Column("portfolio_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("position_id", postgresql.UUID(as_uuid=True), nullable=False),
        *_figures(),
        sa.Column("std_error", sa.Numeric(12, 6), nullable=True),
        sa.Column("t_stat", sa.Numeric(12, 4), nullable=True),
        sa.Column("condition_number", sa.Numeric(14, 4), nullable=True),
        *_checks(POSITIONS),
        sa.CheckConstraint("std_error >= 0", name=op.f(f"ck_{POSITIONS}_std_error_nonneg")),
        sa.CheckConstraint(
            "condition_number >= 1", name=op.f(f"ck_{POSITIONS}_condition_number_min")
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["positions.id"],
            ondelete="CASCADE",
            name=op.f(f"fk_{POSITIONS}_position_id_positions"),
        ),
        sa.PrimaryKeyConstraint(
            "portfolio_id",
            "calculation_date",
            "position_id",
            "factor",
            name=op.f(f"pk_{POSITIONS}"),
        ),
        if_not_exists=True,
    )
    op.create_table(
        PORTFOLIOS,
        sa.Column("portfolio_id", postgresql.UUID(as_uuid=True), nullable=False),
        *_figures(),
        sa.Column("coverage", sa.Numeric(12, 6), nullable=True),
        sa.Column("ridge_positions", sa.Integer(), nullable=True),
        *_checks(PORTFOLIOS),
        sa.CheckConstraint(
            "coverage >= 0 AND coverage <= 1", name=op.f(f"ck_{PORTFOLIOS}_coverage_range")
        ),
        sa.CheckConstraint(
            "ridge_positions >= 0", name=op.f(f"ck_{PORTFOLIOS}_ridge_positions_nonneg")
        ),
        _portfolio_key(PORTFOLIOS),
        sa.PrimaryKeyConstraint(
            "portfolio_id", "calculation_date", "factor", name=op.f(f"pk_{PORTFOLIOS}")
        ),
        if_not_exists=True,
    )


def downgrade() -> None:
    set_local_timeouts()
    op.drop_table(PORTFOLIOS, if_exists=True)
    op.drop_table(POSITIONS, if_exists=True)
