"""Baseline tables the risk-metrics schema builds on: portfolios and their positions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.types import BENCHMARK_CODES, DEFAULT_BENCHMARK
from app.models.base import Base, TimestampMixin, UUIDPrimaryKeyMixin, one_of

POSITION_TYPES = ("LONG", "SHORT", "LC", "LP", "SC", "SP")
"""Stock long/short and option long/short call/put."""


class Portfolio(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "portfolios"
    __table_args__ = (
        # A name names one of the owner's live portfolios, whatever its case.
        Index(
            "uq_portfolios_owner_id_lower_name",
            "owner_id",
            func.lower(text("name")),
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        one_of("benchmark_code", BENCHMARK_CODES),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default="USD")
    # Net liquidation value: the denominator of exposure-weighted portfolio metrics.
    equity_balance: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who may read it through the API; NULL (portfolios older than sign-in) = no one until
    # assigned. SET NULL: removing a user never deletes portfolio history.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The earliest date whose stored figures a change of the book has made out of date;
    # NULL when they are current (scripts/calculate_risk_metrics.py --stale clears it).
    stale_from: Mapped[date | None] = mapped_column(Date)
    # The index its sector over/underweights are measured against (GET /risk).
    benchmark_code: Mapped[str] = mapped_column(
        String(32), nullable=False, server_default=DEFAULT_BENCHMARK
    )

    positions: Mapped[list[Position]] = relationship(
        back_populates="portfolio", lazy="raise", passive_deletes=True
    )


class Position(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "positions"
    __table_args__ = (
        Index("ix_positions_portfolio_id", "portfolio_id"),
        Index("ix_positions_symbol", "symbol"),
        one_of("position_type", POSITION_TYPES),
        # The direction is the type: a SHORT holds a positive quantity of shares.
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    portfolio_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False
    )
    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    # Options are priced off their underlying; betas regress on it.
    underlying_symbol: Mapped[str | None] = mapped_column(String(20))
    position_type: Mapped[str] = mapped_column(String(10), nullable=False, server_default="LONG")
    quantity: Mapped[Decimal] = mapped_column(Numeric(20, 6), nullable=False)
    entry_price: Mapped[Decimal] = mapped_column(Numeric(16, 4), nullable=False)
    entry_date: Mapped[date] = mapped_column(Date, nullable=False)
    exit_price: Mapped[Decimal | None] = mapped_column(Numeric(16, 4))
    exit_date: Mapped[date | None] = mapped_column(Date)
    last_price: Mapped[Decimal | None] = mapped_column(Numeric(16, 4))
    market_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    strike_price: Mapped[Decimal | None] = mapped_column(Numeric(16, 4))
    expiration_date: Mapped[date | None] = mapped_column(Date)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    portfolio: Mapped[Portfolio] = relationship(back_populates="positions", lazy="raise")
