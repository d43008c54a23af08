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
    DDL,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    event,
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
    """The position's portfolio (no foreign key of its own: the position's link cascades)."""
    position_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, sort_order=-9
    )
    """A position of ``portfolio_id`` (checked by :data:`POSITION_LINK_DDL`'s triggers)."""
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


# A foreign key from position_factor_exposures (portfolio_id, position_id) to positions
# (portfolio_id, id), ON DELETE CASCADE, enforced per statement. No "%" anywhere: DDL()
# %-formats its text. One definition for the models and the migrations (a change needs a
# revision that replaces them in databases already migrated).
_CHECK_POSITIONS = """\
CREATE OR REPLACE FUNCTION position_factor_exposures_check_positions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing record;
BEGIN
    PERFORM 1 FROM positions p
    WHERE p.id IN (SELECT DISTINCT r.position_id FROM changed r)
    ORDER BY p.id
    FOR KEY SHARE OF p;
    SELECT r.portfolio_id, r.position_id INTO missing
    FROM (SELECT DISTINCT portfolio_id, position_id FROM changed) r
    WHERE NOT EXISTS (
        SELECT 1 FROM positions p WHERE p.id = r.position_id AND p.portfolio_id = r.portfolio_id
    )
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'position_factor_exposures: position ' || missing.position_id
                || ' is not a position of portfolio ' || missing.portfolio_id;
    END IF;
    RETURN NULL;
END
$$"""

_DELETE_WITH_POSITIONS = """\
CREATE OR REPLACE FUNCTION positions_delete_factor_exposures() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM position_factor_exposures f
    USING deleted d
    WHERE f.portfolio_id = d.portfolio_id AND f.position_id = d.id;
    RETURN NULL;
END
$$"""

_KEEP_REFERENCED_KEY = """\
CREATE OR REPLACE FUNCTION positions_keep_factor_exposures_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.portfolio_id) IS DISTINCT FROM (OLD.id, OLD.portfolio_id)
        AND EXISTS (
            SELECT 1 FROM position_factor_exposures f
            WHERE f.portfolio_id = OLD.portfolio_id AND f.position_id = OLD.id
        )
    THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'position ' || OLD.id
                || ' has factor exposures: its id and portfolio cannot change';
    END IF;
    RETURN NEW;
END
$$"""

POSITION_LINK_DDL: tuple[str, ...] = (
    _CHECK_POSITIONS,
    _DELETE_WITH_POSITIONS,
    _KEEP_REFERENCED_KEY,
    "CREATE TRIGGER trg_position_factor_exposures_inserted"
    " AFTER INSERT ON position_factor_exposures REFERENCING NEW TABLE AS changed"
    " FOR EACH STATEMENT EXECUTE FUNCTION position_factor_exposures_check_positions()",
    "CREATE TRIGGER trg_position_factor_exposures_updated"
    " AFTER UPDATE ON position_factor_exposures REFERENCING NEW TABLE AS changed"
    " FOR EACH STATEMENT EXECUTE FUNCTION position_factor_exposures_check_positions()",
    "CREATE TRIGGER trg_positions_delete_factor_exposures"
    " AFTER DELETE ON positions REFERENCING OLD TABLE AS deleted"
    " FOR EACH STATEMENT EXECUTE FUNCTION positions_delete_factor_exposures()",
    "CREATE TRIGGER trg_positions_keep_factor_exposures_key"
    " BEFORE UPDATE OF id, portfolio_id ON positions"
    " FOR EACH ROW EXECUTE FUNCTION positions_keep_factor_exposures_key()",
)
"""Functions, then triggers: the position link of position_factor_exposures."""

DROP_POSITION_LINK_DDL: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS trg_positions_keep_factor_exposures_key ON positions",
    "DROP TRIGGER IF EXISTS trg_positions_delete_factor_exposures ON positions",
    "DROP TRIGGER IF EXISTS trg_position_factor_exposures_updated ON position_factor_exposures",
    "DROP TRIGGER IF EXISTS trg_position_factor_exposures_inserted ON position_factor_exposures",
    "DROP FUNCTION IF EXISTS positions_keep_factor_exposures_key()",
    "DROP FUNCTION IF EXISTS positions_delete_factor_exposures()",
    "DROP FUNCTION IF EXISTS position_factor_exposures_check_positions()",
)

# After every table exists (positions may be created after this table: no foreign key
# orders them), and gone before the tables are dropped.
for _statement in POSITION_LINK_DDL:
    event.listen(
        Base.metadata,
        "after_create",
        DDL(_statement).execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
    )
for _statement in DROP_POSITION_LINK_DDL:
    event.listen(
        Base.metadata,
        "before_drop",
        DDL(_statement).execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
    )
