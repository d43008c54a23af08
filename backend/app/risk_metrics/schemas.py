"""Portfolio risk, position market beta and position volatility responses."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import DecimalString


class SectorActiveWeight(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sector: str
    portfolio_weight: DecimalString = Field(description="0 when the portfolio has none.")
    benchmark_weight: DecimalString = Field(description="0 when the benchmark has none.")
    active_weight: DecimalString = Field(
        description="portfolio_weight - benchmark_weight: > 0 overweight, < 0 underweight."
    )


class BenchmarkComparison(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    benchmark_code: str
    asof_date: date = Field(description="Date of the benchmark weights used.")
    sectors: list[SectorActiveWeight] = Field(
        description="Every sector on either side, largest overweight first."
    )


class PortfolioRisk(BaseModel):
    portfolio_id: uuid.UUID
    calculation_date: date
    market_beta_weighted: DecimalString | None
    market_beta_r_squared: DecimalString | None
    market_beta_observations: int | None
    market_beta_direct: DecimalString | None
    sector_exposure: dict[str, DecimalString] | None = Field(
        description="GICS sector -> fraction of the portfolio."
    )
    hhi: DecimalString | None
    effective_num_positions: DecimalString | None
    top_3_concentration: DecimalString | None
    top_10_concentration: DecimalString | None
    realized_volatility_21d: DecimalString | None
    realized_volatility_63d: DecimalString | None
    expected_volatility_21d: DecimalString | None
    volatility_trend: str | None
    volatility_percentile: DecimalString | None
    benchmark_comparison: BenchmarkComparison | None = Field(
        description=(
            "Over/underweights against the benchmark weights of the latest date on or "
            "before calculation_date; null when there are none or no sector exposure "
            "(benchmark_comparison_reason says which)."
        )
    )
    benchmark_comparison_reason: str | None = Field(
        default=None,
        description="Why benchmark_comparison is null, and what to do; null when it is not.",
    )


class MarketBetaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    portfolio_id: uuid.UUID
    position_id: uuid.UUID
    calc_date: date
    beta: DecimalString
    alpha: DecimalString | None
    r_squared: DecimalString | None
    std_error: DecimalString | None
    p_value: DecimalString | None
    observations: int
    window_days: int
    method: str
    market_index: str


class PositionVolatilityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    position_id: uuid.UUID
    calculation_date: date
    realized_vol_21d: DecimalString | None
    realized_vol_63d: DecimalString | None
    vol_daily: DecimalString | None
    vol_weekly: DecimalString | None
    vol_monthly: DecimalString | None
    expected_vol_21d: DecimalString | None
    vol_trend: str | None
    vol_trend_strength: DecimalString | None
    vol_percentile: DecimalString | None
    observations: int | None
    model_r_squared: DecimalString | None
