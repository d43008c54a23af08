"""The risk-metrics tables of the spec: position market betas (revision 0), benchmark
sector weights (revision 2) and position volatility (revision 5).

Column order, types, defaults and index names follow the spec exactly."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
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


class PositionMarketBeta(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """Position-level OLS beta against the market index, one row per calculation."""

    __tablename__ = "position_market_betas"
    __table_args__ = (
        UniqueConstraint(
            "portfolio_id",
            "position_id",
            "calc_date",
            "method",
            "window_days",
            name="uq_position_market_betas_calc",
        ),
        Index("idx_pos_beta_lookup", "portfolio_id", "calc_date"),
        Index("idx_pos_beta_position", "position_id", "calc_date"),
        Index("idx_pos_beta_created", "created_at"),
        in_range("r_squared", 0, 1),
        in_range("p_value", 0, 1),
        non_negative("std_error"),
        non_negative("observations"),
        non_negative("window_days"),
    )

    portfolio_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False
    )
    position_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("positions.id", ondelete="CASCADE"), nullable=False
    )
    calc_date: Mapped[date] = mapped_column(Date, nullable=False)
    beta: Mapped[Decimal] = mapped_column(Numeric(12, 6), nullable=False)
    alpha: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    r_squared: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    std_error: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    p_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    observations: Mapped[int] = mapped_column(Integer, nullable=False)
    window_days: Mapped[int] = mapped_column(Integer, nullable=False, server_default="90")
    method: Mapped[str] = mapped_column(String(32), nullable=False, server_default="OLS_SIMPLE")
    market_index: Mapped[str] = mapped_column(String(16), nullable=False, server_default="SPY")


class BenchmarkSectorWeight(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """GICS sector weights of a benchmark index on a date (history kept by asof_date)."""

    __tablename__ = "benchmarks_sector_weights"
    __table_args__ = (
        UniqueConstraint(
            "benchmark_code",
            "asof_date",
            "sector",
            name="uq_benchmarks_sector_weights_code_date_sector",
        ),
        Index("idx_benchmark_lookup", "benchmark_code", "asof_date"),
        Index("idx_benchmark_sector", "benchmark_code", "sector", "asof_date"),
        in_range("weight", 0, 1),
        non_negative("market_cap"),
        non_negative("num_constituents"),
    )

    benchmark_code: Mapped[str] = mapped_column(String(32), nullable=False)
    asof_date: Mapped[date] = mapped_column(Date, nullable=False)
    sector: Mapped[str] = mapped_column(String(64), nullable=False)
    weight: Mapped[Decimal] = mapped_column(Numeric(12, 6), nullable=False)
    market_cap: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    num_constituents: Mapped[int | None] = mapped_column(Integer)
    data_source: Mapped[str] = mapped_column(String(32), nullable=False, server_default="FMP")


class PositionVolatility(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """Position-level realized volatility and HAR forecast, one row per position and date."""

    __tablename__ = "position_volatility"
    __table_args__ = (
        UniqueConstraint(
            "position_id", "calculation_date", name="uq_position_volatility_position_date"
        ),
        Index("ix_position_volatility_position_id", "position_id"),
        Index("ix_position_volatility_calculation_date", "calculation_date"),
        Index("ix_position_volatility_lookup", "position_id", "calculation_date"),
        non_negative("realized_vol_21d"),
        non_negative("realized_vol_63d"),
        non_negative("vol_daily"),
        non_negative("vol_weekly"),
        non_negative("vol_monthly"),
        non_negative("expected_vol_21d"),
        one_of("vol_trend", TRENDS),
        in_range("vol_trend_strength", 0, 1),
        in_range("vol_percentile", 0, 1),
        non_negative("observations"),
        in_range("model_r_squared", 0, 1),
    )

    position_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("positions.id", ondelete="CASCADE"), nullable=False
    )
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    realized_vol_21d: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    realized_vol_63d: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    vol_daily: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    vol_weekly: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    vol_monthly: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    expected_vol_21d: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    vol_trend: Mapped[str | None] = mapped_column(String(20))
    vol_trend_strength: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    vol_percentile: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    observations: Mapped[int | None] = mapped_column(Integer)
    model_r_squared: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
