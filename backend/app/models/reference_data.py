"""Market reference data the risk engine reads: end-of-day prices and security profiles.

Not part of the spec's six revisions; added after them with the same lock-safe rules.
Keyed by ticker symbol, not by position: many positions (and portfolios) share one series.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.sectors import GICS_SECTORS
from app.models.base import Base, TimestampMixin, UUIDPrimaryKeyMixin, non_negative, one_of

PRICE_SOURCES = ("FMP", "CSV", "DEMO")
"""Where a stored price or profile came from: the FMP API, a CSV import, or synthetic demo data."""


class DailyPrice(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """One end-of-day price per symbol and trading date.

    Returns use ``adjusted_close`` when present (splits and dividends), else ``close``.
    """

    __tablename__ = "daily_prices"
    __table_args__ = (
        # Also serves every per-symbol date-range lookup (symbol is its leading column).
        UniqueConstraint("symbol", "date", name="uq_daily_prices_symbol_date"),
        CheckConstraint("close > 0", name="close_positive"),
        CheckConstraint("adjusted_close > 0", name="adjusted_close_positive"),
        non_negative("volume"),
        one_of("source", PRICE_SOURCES),
    )

    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    date: Mapped[date] = mapped_column(Date, nullable=False)
    close: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)
    adjusted_close: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    volume: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32), nullable=False, server_default="FMP")


class SecurityProfile(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """What a symbol is: its GICS sector (NULL for ETFs, unclassified) and whether it is an ETF."""

    __tablename__ = "security_profiles"
    __table_args__ = (
        UniqueConstraint("symbol", name="uq_security_profiles_symbol"),
        one_of("sector", GICS_SECTORS),
        one_of("source", PRICE_SOURCES),
    )

    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    sector: Mapped[str | None] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(128))
    is_etf: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    source: Mapped[str] = mapped_column(String(32), nullable=False, server_default="FMP")
