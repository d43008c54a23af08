"""Market reference data the risk engine reads: end-of-day prices, corporate actions and
security profiles.

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
"""Where a stored price, action or profile came from: the FMP API, a CSV import, or
synthetic demo data."""


class DailyPrice(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """One end-of-day price per symbol and trading date, in two kinds.

    ``close`` is the close as traded that day (what a share held then was worth);
    ``adjusted_close`` is the total-return close: the close scaled for every split and cash
    dividend after that day, so that consecutive adjusted closes give the day's return
    with dividends reinvested and no jump on a split. Returns come from it only.
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
    adjusted_close: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)
    volume: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32), nullable=False, server_default="FMP")


ACTION_KINDS = ("split", "dividend")


class CorporateAction(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """A split or a cash dividend of a symbol, by ex-date (the first day it trades without).

    A split of ``split_numerator`` for ``split_denominator`` (4 for 1: a holder of one share
    holds four from the ex-date on, each at about a quarter of the price); a dividend of
    ``dividend_amount`` per share as traded on its ex-date (before any later split).
    Several cash dividends of one ex-date are recorded as their sum.
    """

    __tablename__ = "corporate_actions"
    __table_args__ = (
        UniqueConstraint(
            "symbol", "ex_date", "kind", name="uq_corporate_actions_symbol_ex_date_kind"
        ),
        one_of("kind", ACTION_KINDS),
        CheckConstraint(
            "(kind = 'split') = (split_numerator IS NOT NULL AND split_denominator IS NOT NULL)",
            name="split_has_ratio",
        ),
        CheckConstraint(
            "(kind = 'dividend') = (dividend_amount IS NOT NULL)", name="dividend_has_amount"
        ),
        CheckConstraint("split_numerator > 0", name="split_numerator_positive"),
        CheckConstraint("split_denominator > 0", name="split_denominator_positive"),
        CheckConstraint("dividend_amount > 0", name="dividend_amount_positive"),
        one_of("source", PRICE_SOURCES),
    )

    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    ex_date: Mapped[date] = mapped_column(Date, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    split_numerator: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    split_denominator: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    dividend_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
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
