"""Stress scenario responses. Currency amounts are decimal strings in cents; fractions
and moves decimal strings with six places (-0.100000 = -10 %)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

from app.core.types import DecimalString

CENTS = Decimal("0.01")
FRACTION = Decimal("0.000001")


def money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(CENTS)


def fraction(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(FRACTION)


class FactorMove(BaseModel):
    factor: str
    move: DecimalString | None = Field(
        description="the factor's return in the scenario (a spread: long minus short)"
    )
    null_reason: str | None


class RevaluationRead(BaseModel):
    pnl: DecimalString = Field(
        description="full revaluation: each compared position's exposure x its own return"
    )
    model_pnl: DecimalString = Field(description="the factor model's P&L of the same positions")
    model_error: DecimalString = Field(description="pnl - model_pnl")
    coverage: DecimalString = Field(description="share of gross exposure compared, 0..1")
    not_covered: list[dict[str, str]] = Field(
        description="positions left out: {symbol, reason} (no prices over the window, ...)"
    )


class ScenarioRead(BaseModel):
    code: str
    name: str
    kind: str = Field(description="historical (a replay of start..end) or hypothetical")
    start: date | None
    end: date | None
    window: list[date] | None = Field(
        description="historical: the first and last trading day measured"
    )
    moves: list[FactorMove]
    pnl: DecimalString | None = Field(
        description="P&L through the portfolio's factor exposures, in its currency"
    )
    pnl_fraction: DecimalString | None = Field(description="pnl / denominator")
    null_reason: str | None
    left_out: list[FactorMove] = Field(
        description="moving factors not in the model on the date (no prices for its "
        "window), with the reason: the P&L prices the others"
    )
    revaluation: RevaluationRead | None = Field(
        description="historical replays: full revaluation beside the model, where the "
        "positions' own prices cover the window"
    )


class StressRead(BaseModel):
    portfolio_id: uuid.UUID
    calculation_date: date = Field(description="the date of the factor exposures used")
    currency: str
    denominator: DecimalString = Field(
        description="the equity (else the gross exposure) the fractions are of"
    )
    denominator_is_equity: bool
    scenario_file_version: int
    scenarios: list[ScenarioRead]
