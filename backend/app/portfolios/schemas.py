"""The caller's portfolios and what each holds, for a client to find its way in."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import DecimalString
from app.risk_metrics.schemas import ANNUALISED_VOL, BETA, R_SQUARED, TREND


class PortfolioSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    latest_snapshot_date: date | None = Field(
        description="Date of the newest risk snapshot; null before the first calculation."
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
        description="Signed exposure in the portfolio's currency at the last close on or "
        "before as_of: ± |quantity| x close for stocks, ± |contracts| x 100 x the "
        "underlying's close for options (+ long call / short put, - long put / short call). "
        "Null without a price or without as_of."
    )
    weight: DecimalString | None = Field(
        description="market_value / the sum of |market_value| over the items, a signed "
        "decimal fraction (-0.25 = a short of 25% of gross exposure)."
    )
    beta: DecimalString | None = Field(description=f"Stored position {BETA}, on as_of.")
    r_squared: DecimalString | None = Field(description=f"{R_SQUARED} of that beta.")
    realized_vol_21d: DecimalString | None = Field(
        description=f"Stored 21-trading-day {ANNUALISED_VOL}, on as_of."
    )
    vol_trend: str | None = Field(description=TREND + ".")


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
