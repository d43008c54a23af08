"""The caller's portfolios and what each holds: what the portfolio and position endpoints
answer (their request bodies are the rules' models, app.portfolios.rules)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import FieldError
from app.core.types import DecimalString
from app.formulas.freshness import ExclusionReason
from app.risk_metrics.schemas import ANNUALISED_VOL, BETA, R_SQUARED, TREND

STALE_FROM = (
    "The earliest date whose stored figures a change of the book has made out of date "
    "(scripts/calculate_risk_metrics.py --stale recomputes them); null when they are current."
)
DATA_STATUS = (
    "no_prices: no stored price of the symbol (an option's underlying) yet; no_profile: "
    "prices but no profile (sector); null: both are there. Never an error: data_hint says "
    "which command loads them."
)

DataStatus = Literal["no_prices", "no_profile"]


class PortfolioSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    latest_snapshot_date: date | None = Field(
        description="Date of the newest risk snapshot; null before the first calculation."
    )
    stale_from: date | None = Field(description=STALE_FROM)
    prices_as_of: date | None = Field(
        default=None,
        description="The last SPY price date the newest snapshot's figures use (the last "
        "trading day on or before latest_snapshot_date); null before the first calculation.",
    )


class PortfolioList(BaseModel):
    items: list[PortfolioSummary] = Field(
        description="The signed-in user's live portfolios, by name (then id)."
    )


class HeldPositionRead(BaseModel):
    id: uuid.UUID
    symbol: str
    underlying_symbol: str | None = Field(description="An option's underlying; null for stocks.")
    position_type: str = Field(description="LONG, SHORT, or an option: LC, LP, SC, SP.")
    quantity: DecimalString = Field(description="Shares or contracts, as stored.")
    market_value: DecimalString | None = Field(
        description="Signed exposure in the portfolio's currency at the last close as "
        "traded on or before as_of (price_date), of the shares held that day (the stored "
        "quantity before any later split): ± shares x close for stocks, ± contracts x 100 x "
        "the underlying's close for options (+ long call / short put, - long put / short "
        "call). Null without a price or without as_of."
    )
    weight: DecimalString | None = Field(
        description="market_value / the sum of |market_value| over the items, a signed "
        "decimal fraction (-0.25 = a short of 25% of gross exposure). A position the figures "
        "left out without a close counts in the sum at its uncovered exposure, as in the "
        "figures' concentration."
    )
    beta: DecimalString | None = Field(description=f"Stored position {BETA}, on as_of.")
    r_squared: DecimalString | None = Field(description=f"{R_SQUARED} of that beta.")
    realized_vol_21d: DecimalString | None = Field(
        description=f"Stored 21-trading-day {ANNUALISED_VOL}, on as_of."
    )
    vol_trend: str | None = Field(description=TREND + ".")
    data_status: DataStatus | None = Field(description=DATA_STATUS)
    data_hint: str | None = Field(
        default=None, description="The command that loads the missing data; null when none is."
    )
    price_date: date | None = Field(
        default=None,
        description="The date of the last close of its series (an option's underlying) on or "
        "before as_of (today without as_of): the close market_value uses. Null: none stored.",
    )
    excluded_reason: ExclusionReason | None = Field(
        default=None,
        description="Why the figures of as_of leave it out (no_price, stale_price: its last "
        "price more than STALE_PRICE_TRADING_DAYS trading days old); null when they do not.",
    )
    excluded_detail: str | None = Field(
        default=None, description="excluded_reason in a sentence, with the dates."
    )


class PortfolioPositions(BaseModel):
    portfolio_id: uuid.UUID
    as_of: date | None = Field(
        description="The latest snapshot date on or before `date` (default: the latest "
        "snapshot); null when there is none: the items are then today's positions with "
        "null figures."
    )
    items: list[HeldPositionRead] = Field(
        description="The positions held at the close of as_of, by symbol (then id)."
    )
    first_entry_date: date | None = Field(
        description="Only when as_of is null (no snapshot to show): the earliest entry date "
        "of the portfolio's positions, closed ones too (null without positions). With "
        "last_price_date, the range a calculation of the book covers."
    )
    last_price_date: date | None = Field(
        description="Only when as_of is null: the date of the market index's (SPY's) last "
        "stored price, after which no figures can be calculated (null before any price)."
    )


class PortfolioRead(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    currency: str
    equity_balance: DecimalString | None
    benchmark_code: str = Field(
        description="The benchmark GET /risk measures sector over/underweights against."
    )
    stale_from: date | None = Field(description=STALE_FROM)
    latest_snapshot_date: date | None = Field(
        description="Date of the newest risk snapshot; null before the first calculation."
    )


class PositionRead(BaseModel):
    id: uuid.UUID
    portfolio_id: uuid.UUID
    symbol: str
    position_type: str = Field(description="LONG, SHORT, or an option: LC, LP, SC, SP.")
    quantity: DecimalString = Field(description="Shares or contracts, > 0.")
    entry_date: date
    entry_price: DecimalString
    exit_date: date | None
    exit_price: DecimalString | None
    underlying_symbol: str | None
    strike_price: DecimalString | None
    expiration_date: date | None
    data_status: DataStatus | None = Field(description=DATA_STATUS)
    data_hint: str | None = Field(
        default=None, description="The command that loads the missing data; null when none is."
    )


class PositionLine(BaseModel):
    line: int | None = Field(
        description="The file's line; null for a position of the book (closed or unchanged)."
    )
    symbol: str
    position_type: str
    quantity: DecimalString
    entry_date: date
    position_id: uuid.UUID | None = Field(
        description="The stored position; null for a dry run's added lines."
    )
    data_status: DataStatus | None = Field(default=None, description=DATA_STATUS)


class RejectedRow(BaseModel):
    line: int | None = Field(description="The file's line; null for a problem of the whole file.")
    field: str | None = Field(description="The column; null for the whole row or file.")
    message: str


class ImportResult(BaseModel):
    dry_run: bool = Field(description="Nothing was written: what the import would do.")
    mode: Literal["append", "replace"]
    as_of: date
    added: list[PositionLine]
    closed: list[PositionLine] = Field(
        description="replace: positions of the book not in the file, closed on as_of."
    )
    unchanged: list[PositionLine] = Field(
        description="replace: positions of the book the file holds as they are."
    )
    rejected: list[RejectedRow] = Field(description="Always empty here (see the 422).")
    data_hint: str | None = Field(
        default=None,
        description="Added symbols without prices or profile, and the command that loads them.",
    )


class ImportRejected(BaseModel):
    detail: str = Field(description="How many rows were rejected; nothing was written.")
    rejected: list[RejectedRow] = Field(
        default_factory=list, description="Every problem of the file, by line and field."
    )
    errors: list[FieldError] | None = Field(
        default=None,
        description="Instead of rejected: a malformed query parameter or Idempotency-Key.",
    )
