"""Factor exposure responses."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field

from app.core.types import DecimalString

LOADING = "loading on the factor: return sensitivity, dimensionless (1 = moves one for one)"
REASON = (
    "why a figure of this row is NULL (a factor without prices, too few returns, a perfect fit)"
)
ESTIMATOR = "OLS, or RIDGE where the factors were nearly collinear (condition number over 30)"


class FactorDefinition(BaseModel):
    code: str
    name: str
    definition: str = Field(description="The ETF, or the long - short ETF pair, it stands for.")


class PositionFactorLoading(BaseModel):
    factor: str
    exposure: DecimalString | None = Field(description=LOADING)
    std_error: DecimalString | None = Field(description="standard error of the loading")
    t_stat: DecimalString | None = Field(description="loading / standard error")
    null_reason: str | None = Field(description=REASON)


class PositionFactorExposures(BaseModel):
    position_id: uuid.UUID
    symbol: str
    r_squared: DecimalString | None = Field(description="share of variance the factors explain")
    specific_volatility: DecimalString | None = Field(
        description="annualised volatility of the residual returns (0.25 = 25%)"
    )
    observations: int | None
    estimator: str | None = Field(description=ESTIMATOR)
    guarded: bool = Field(description="the collinearity guard chose the ridge")
    condition_number: DecimalString | None = Field(
        description="of the standardised factor returns (NULL: exactly collinear)"
    )
    loadings: list[PositionFactorLoading]


class PortfolioFactorLoading(BaseModel):
    factor: str
    exposure: DecimalString | None = Field(
        description="sum of positions' exposure x loading / equity, scaled over coverage"
    )
    coverage: DecimalString | None = Field(
        description="share of gross exposure whose position has a loading, 0..1"
    )
    null_reason: str | None = Field(description=REASON)


class PortfolioFactorFigures(BaseModel):
    r_squared: DecimalString | None = Field(
        description="share of the portfolio return variance the factors explain, 0..1"
    )
    specific_volatility: DecimalString | None = Field(
        description="annualised residual (specific) volatility of the portfolio's returns"
    )
    observations: int | None
    estimator: str | None = Field(description=ESTIMATOR)
    ridge_positions: int | None = Field(description="positions whose fit took the ridge")
    exposures: list[PortfolioFactorLoading]


class FactorExposures(BaseModel):
    portfolio_id: uuid.UUID
    calculation_date: date
    window_days: int = Field(description="trading days of returns regressed (the beta window)")
    factors: list[FactorDefinition]
    portfolio: PortfolioFactorFigures
    positions: list[PositionFactorExposures]
