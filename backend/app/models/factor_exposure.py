"""Factor exposures (issue 25): each position's loadings on the style factors of
app/factors/factors.toml, and each portfolio's, per calculation date and factor.

A row whose exposure could not be estimated keeps its factor with ``exposure`` NULL and
``null_reason`` saying why, so a reader sees every factor of a date.

Seven rows per position and date make the position table the engine's largest, so it is
keyed by what it is read and replaced by, with no surrogate id or second index: the
primary key (portfolio_id, calculation_date, position_id, factor) serves a portfolio's
date (the API, a re-run's delete) and keeps a position's factor once per date. Rows are
replaced, never updated: ``created_at`` only."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.formulas.labels import ESTIMATORS
from app.models.base import Base, in_range, one_of


def exposure_explained() -> CheckConstraint:
    """A NULL exposure always carries its reason."""
    return CheckConstraint(
        "exposure IS NOT NULL OR null_reason IS NOT NULL", name="exposure_explained"
    )


class _FactorFigures:
    """The figures both tables hold."""

    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    factor: Mapped[str] = mapped_column(String(32), nullable=False)
    window_days: Mapped[int] = mapped_column(Integer, nullable=False)
    exposure: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    r_squared: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    specific_volatility: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    observations: Mapped[int | None] = mapped_column(Integer)
    estimator: Mapped[str | None] = mapped_column(String(8))
    null_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), sort_order=100
    )


class PositionFactorExposure(_FactorFigures, Base):
    """A position's loading on one factor: multivariate regression over the beta window."""

    __tablename__ = "position_factor_exposures"
    __table_args__ = (
        PrimaryKeyConstraint("portfolio_id", "calculation_date", "position_id", "factor"),
        in_range("r_squared", 0, 1),
        CheckConstraint("std_error >= 0", name="std_error_nonneg"),
        CheckConstraint("specific_volatility >= 0", name="specific_volatility_nonneg"),
        CheckConstraint("observations >= 0", name="observations_nonneg"),
        CheckConstraint("window_days > 0", name="window_days_positive"),
        CheckConstraint("condition_number >= 1", name="condition_number_min"),
        one_of("estimator", ESTIMATORS),
        exposure_explained(),
    )

    portfolio_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, sort_order=-10
    )
    """The position's portfolio (no foreign key of its own: the position's cascades)."""
    position_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("positions.id", ondelete="CASCADE"),
        nullable=False,
        sort_order=-9,
    )
    std_error: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    t_stat: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    condition_number: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))


class PortfolioFactorExposure(_FactorFigures, Base):
    """A portfolio's exposure to one factor: its positions' loadings weighted by exposure
    over the equity; R-squared and specific volatility of its own return series."""

    __tablename__ = "portfolio_factor_exposures"
    __table_args__ = (
        PrimaryKeyConstraint("portfolio_id", "calculation_date", "factor"),
        in_range("r_squared", 0, 1),
        in_range("coverage", 0, 1),
        CheckConstraint("specific_volatility >= 0", name="specific_volatility_nonneg"),
        CheckConstraint("observations >= 0", name="observations_nonneg"),
        CheckConstraint("window_days > 0", name="window_days_positive"),
        CheckConstraint("ridge_positions >= 0", name="ridge_positions_nonneg"),
        one_of("estimator", ESTIMATORS),
        exposure_explained(),
    )

    portfolio_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("portfolios.id", ondelete="CASCADE"),
        nullable=False,
        sort_order=-10,
    )
    coverage: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    ridge_positions: Mapped[int | None] = mapped_column(Integer)
