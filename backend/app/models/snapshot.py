"""Daily portfolio snapshots: baseline valuation columns plus the risk-metrics columns
added by revisions 1 (market beta), 3 (sector & concentration) and 4 (volatility), what
the figures rest on (add_freshness_to_snapshots) and the tail-risk revision."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.formulas.labels import TRENDS
from app.models.base import (
    Base,
    TimestampMixin,
    UUIDPrimaryKeyMixin,
    in_range,
    non_negative,
    one_of,
)

RISK = {"risk": True}  # column.info marker for SNAPSHOT_RISK_COLUMNS


class PortfolioSnapshot(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "portfolio_snapshots"
    __table_args__ = (
        UniqueConstraint(
            "portfolio_id", "calculation_date", name="uq_portfolio_snapshots_portfolio_date"
        ),
        Index("idx_snapshots_beta", "portfolio_id", "calculation_date", "market_beta_weighted"),
        Index(
            "idx_snapshots_volatility",
            "portfolio_id",
            "calculation_date",
            "realized_volatility_21d",
        ),
        # Revision 1
        in_range("market_beta_r_squared", 0, 1),
        non_negative("market_beta_observations"),
        # Revision 3
        in_range("hhi", 0, 10000),
        non_negative("effective_num_positions"),
        in_range("top_3_concentration", 0, 1),
        in_range("top_10_concentration", 0, 1),
        # Revision 4
        non_negative("realized_volatility_21d"),
        non_negative("realized_volatility_63d"),
        non_negative("expected_volatility_21d"),
        one_of("volatility_trend", TRENDS),
        in_range("volatility_percentile", 0, 1),
        # Freshness
        in_range("beta_coverage", 0, 1),
        # Tail risk
        non_negative("var_95_1d"),
        non_negative("var_99_1d"),
        non_negative("expected_shortfall_975_1d"),
        non_negative("max_drawdown_252d"),
        non_negative("current_drawdown"),
        non_negative("realized_max_drawdown_252d"),
    )

    portfolio_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False
    )
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    total_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    cash_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    long_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    short_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    gross_exposure: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    net_exposure: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    daily_pnl: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    daily_return: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    num_positions: Mapped[int | None] = mapped_column(Integer)

    # Revision 1: market beta (Phase 0). market_beta_direct is the Phase 3 direct regression.
    market_beta_weighted: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=10, info=RISK
    )
    market_beta_r_squared: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=10, info=RISK
    )
    market_beta_observations: Mapped[int | None] = mapped_column(Integer, sort_order=10, info=RISK)
    market_beta_direct: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=10, info=RISK
    )

    # Revision 3: sector exposure and concentration.
    # none_as_null: None is SQL NULL (JSONB's default writes a JSON 'null', which
    # IS NOT NULL and num_nonnulls count as stored), in every write, ORM or Core.
    sector_exposure: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB(none_as_null=True), sort_order=11, info=RISK
    )
    hhi: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), sort_order=11, info=RISK)
    effective_num_positions: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 2), sort_order=11, info=RISK
    )
    top_3_concentration: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=11, info=RISK
    )
    top_10_concentration: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=11, info=RISK
    )

    # Revision 4: volatility, from the portfolio's return series (never weighted position vols).
    realized_volatility_21d: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=12, info=RISK
    )
    realized_volatility_63d: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=12, info=RISK
    )
    expected_volatility_21d: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=12, info=RISK
    )
    volatility_trend: Mapped[str | None] = mapped_column(String(20), sort_order=12, info=RISK)
    volatility_percentile: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 4), sort_order=12, info=RISK
    )

    # Freshness: what the figures rest on. The share of gross exposure with a beta
    # (positions left out for want of a fresh price count as exposure without one), and
    # those positions with their reasons (app.formulas.freshness); NULL when none was.
    beta_coverage: Mapped[Decimal | None] = mapped_column(Numeric(10, 4), sort_order=13, info=RISK)
    excluded_positions: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONB(none_as_null=True), sort_order=13, info=RISK
    )
    # Tail risk and performance (app.formulas.tail_risk): losses and drawdowns as positive
    # fractions of equity, from the holdings-based return series; the realized drawdown
    # from the book as it was held each day (app.formulas.as_held).
    var_95_1d: Mapped[Decimal | None] = mapped_column(Numeric(10, 6), sort_order=13, info=RISK)
    var_99_1d: Mapped[Decimal | None] = mapped_column(Numeric(10, 6), sort_order=13, info=RISK)
    expected_shortfall_975_1d: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 6), sort_order=13, info=RISK
    )
    var_method: Mapped[str | None] = mapped_column(String(32), sort_order=13, info=RISK)
    max_drawdown_252d: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 6), sort_order=13, info=RISK
    )
    current_drawdown: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 6), sort_order=13, info=RISK
    )
    sharpe_252d: Mapped[Decimal | None] = mapped_column(Numeric(10, 4), sort_order=13, info=RISK)
    sortino_252d: Mapped[Decimal | None] = mapped_column(Numeric(10, 4), sort_order=13, info=RISK)
    realized_max_drawdown_252d: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 6), sort_order=13, info=RISK
    )


SNAPSHOT_RISK_COLUMNS: tuple[str, ...] = tuple(
    column.name for column in PortfolioSnapshot.__table__.columns if column.info.get("risk")
)
"""The columns revisions 1, 3 and 4, the freshness and the tail-risk revisions add (those
the risk engine writes)."""
