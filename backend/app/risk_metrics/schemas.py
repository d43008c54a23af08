"""Portfolio risk, position market beta and position volatility responses."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import DecimalString
from app.formulas.freshness import ExclusionReason


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


# Units, from the README's "How the figures are defined"; one wording per kind of figure.
ANNUALISED_VOL = "annualised volatility as a decimal fraction (0.25 = 25%)"
FRACTION = "decimal fraction (0.25 = 25%)"
BETA = "beta to SPY, dimensionless"
R_SQUARED = "R², 0..1"
TREND = "increasing / decreasing / stable: 21-day vol / 63-day vol >= 1.10, <= 1/1.10, or between"
PERCENTILE = "share of the last 252 trading days' 21-day vols at or below this one, 0..1"
LOSS = "a one-day loss as a positive decimal fraction of equity (0.023 = 2.3%)"
DRAWDOWN = "a fall from the peak as a positive decimal fraction (0.25 = 25%), >= 0"
RATIO = "annualised (x sqrt(252)), dimensionless, against the RISK_FREE_RATE setting"


class SnapshotRiskFigures(BaseModel):
    """The risk columns of one portfolio snapshot that hold a single figure (every snapshot
    risk column but sector_exposure), as stored: decimals keep the column's scale."""

    model_config = ConfigDict(from_attributes=True)

    market_beta_weighted: DecimalString | None = Field(
        description=f"Exposure-weighted {BETA}: sum of exposure x position beta / equity / "
        "the share of gross exposure that has a beta."
    )
    market_beta_r_squared: DecimalString | None = Field(
        description=f"{R_SQUARED}: the position betas' R² weighted by |exposure|."
    )
    market_beta_observations: int | None = Field(
        description="Daily returns (trading days) behind the position betas: the fewest of any."
    )
    market_beta_direct: DecimalString | None = Field(
        description=f"{BETA.capitalize()}: OLS over the same window of the daily returns of "
        "the book as it was held each day (positions entered and exited on their dates, "
        "weights drifting with prices) on SPY's. Equals market_beta_weighted only for a "
        "book that did not change or drift."
    )
    beta_coverage: DecimalString | None = Field(
        default=None,
        description=f"Share of gross exposure whose position has a beta, {FRACTION}: a "
        "position left out for want of a fresh price (excluded_positions) counts as "
        "exposure without one. Null on snapshots computed before it was stored.",
    )
    hhi: DecimalString | None = Field(
        description="Herfindahl-Hirschman index of position weights (|net exposure| per "
        "symbol / the sum, positions left out for want of a fresh price counted in the sum "
        "but given no weight), HHI on the 0-10,000 scale: sum of weight² x 10,000."
    )
    effective_num_positions: DecimalString | None = Field(
        description="10,000 / HHI: the number of equal positions as concentrated, a count."
    )
    top_3_concentration: DecimalString | None = Field(
        description=f"Weight of the 3 largest positions, {FRACTION}."
    )
    top_10_concentration: DecimalString | None = Field(
        description=f"Weight of the 10 largest positions, {FRACTION}."
    )
    realized_volatility_21d: DecimalString | None = Field(
        description=f"Portfolio return series over the last 21 trading days, {ANNUALISED_VOL}: "
        "sample standard deviation x sqrt(252)."
    )
    realized_volatility_63d: DecimalString | None = Field(
        description=f"As realized_volatility_21d over 63 trading days, {ANNUALISED_VOL}."
    )
    expected_volatility_21d: DecimalString | None = Field(
        description=f"HAR-RV forecast of the next 21 trading days, {ANNUALISED_VOL}."
    )
    volatility_trend: str | None = Field(description=TREND + ".")
    volatility_percentile: DecimalString | None = Field(description=PERCENTILE + ".")
    var_95_1d: DecimalString | None = Field(
        description=f"One-day 95% value at risk, {LOSS}: the loss exceeded on 1 day in 20, "
        "from the portfolio return series (today's book applied to past returns); the "
        "model is var_method."
    )
    var_99_1d: DecimalString | None = Field(
        description=f"One-day 99% value at risk, {LOSS}: the loss exceeded on 1 day in 100."
    )
    expected_shortfall_975_1d: DecimalString | None = Field(
        description=f"One-day 97.5% expected shortfall, {LOSS}: the mean loss beyond the "
        "97.5% value at risk."
    )
    var_method: str | None = Field(
        description="The model behind the VaR and ES figures: FHS_EWMA90_GPD is filtered "
        "historical simulation (EWMA volatility, lambda 0.90) with a generalised Pareto tail."
    )
    max_drawdown_252d: DecimalString | None = Field(
        description=f"Largest drawdown over the last 252 trading days of the portfolio "
        f"return series, {DRAWDOWN}."
    )
    current_drawdown: DecimalString | None = Field(
        description=f"Drawdown on the date from the peak of the last 252 trading days, {DRAWDOWN}."
    )
    sharpe_252d: DecimalString | None = Field(
        description=f"Sharpe ratio over the last 252 trading days, {RATIO}: mean excess "
        "daily return / its sample standard deviation."
    )
    sortino_252d: DecimalString | None = Field(
        description=f"Sortino ratio over the last 252 trading days, {RATIO}: mean excess "
        "daily return / downside deviation (below the risk-free rate, over all days)."
    )
    realized_max_drawdown_252d: DecimalString | None = Field(
        description=f"Largest drawdown over the last 252 trading days of the book as it was "
        f"held each day (the series market_beta_direct regresses), {DRAWDOWN}."
    )


class ExcludedPosition(BaseModel):
    """A held position the figures leave out: its price is missing or too old."""

    position_id: uuid.UUID
    symbol: str
    reason: ExclusionReason = Field(
        description="no_price: no close of its series (an option's underlying) on or before "
        "the date; stale_price: the last one is more than STALE_PRICE_TRADING_DAYS trading "
        "days (default 3) before it."
    )
    detail: str = Field(description="The reason in a sentence, with the dates.")
    last_price_date: date | None = Field(description="Its series' last close used; null: none.")
    uncovered_exposure: DecimalString | None = Field(
        default=None,
        description="Its gross exposure counted as uncovered, in the portfolio's currency: at "
        "its last close, or at its entry value without one (entry price x quantity; an "
        "option's strike x 100 x contracts). Null: unknown.",
    )


class PortfolioRisk(SnapshotRiskFigures):
    portfolio_id: uuid.UUID
    calculation_date: date
    prices_as_of: date | None = Field(
        description="The last SPY price date the figures use: the last trading day on or "
        "before calculation_date."
    )
    excluded_positions: list[ExcludedPosition] = Field(
        default_factory=list,
        description="Positions held on calculation_date that got no figures for want of a "
        "fresh price; they count as exposure without a beta, a weight or a sector in "
        "beta_coverage, the concentration figures and sector_exposure.",
    )
    stale_from: date | None = Field(
        default=None,
        description="The earliest date whose figures a change of the book has made out of "
        "date (scripts/calculate_risk_metrics.py --stale recomputes them); null when they "
        "are current. On or before calculation_date: these figures are among them.",
    )
    sector_exposure: dict[str, DecimalString] | None = Field(
        description="GICS sector -> signed net exposure / gross exposure, a decimal fraction."
    )
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


class RiskHistoryPoint(SnapshotRiskFigures):
    calculation_date: date


class RiskHistory(BaseModel):
    portfolio_id: uuid.UUID
    points: list[RiskHistoryPoint] = Field(description="One per snapshot, oldest first.")


class MarketBetaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    portfolio_id: uuid.UUID
    position_id: uuid.UUID
    symbol: str = Field(description="The position's symbol (an option's own, not its underlying).")
    calc_date: date
    beta: DecimalString = Field(
        description=f"{BETA.capitalize()}: OLS slope of daily returns on SPY's "
        "(an option's underlying's)."
    )
    alpha: DecimalString | None = Field(
        description="OLS intercept: daily return beyond beta x SPY's, a decimal fraction."
    )
    r_squared: DecimalString | None = Field(description=f"{R_SQUARED} of the regression.")
    std_error: DecimalString | None = Field(description="Standard error of beta, dimensionless.")
    p_value: DecimalString | None = Field(
        description="Two-sided t-test p-value of beta = 0 (n - 2 degrees of freedom), 0..1."
    )
    observations: int = Field(description="Daily returns used (trading days).")
    window_days: int = Field(description="Regression window in trading days.")
    method: str
    market_index: str


class PositionVolatilityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    position_id: uuid.UUID
    symbol: str = Field(description="The position's symbol (an option's own, not its underlying).")
    calculation_date: date
    realized_vol_21d: DecimalString | None = Field(
        description=f"Last 21 trading days, {ANNUALISED_VOL}: sample std x sqrt(252)."
    )
    realized_vol_63d: DecimalString | None = Field(
        description=f"Last 63 trading days, {ANNUALISED_VOL}."
    )
    vol_daily: DecimalString | None = Field(
        description=f"HAR daily component sqrt(252 x r²) of the last day, {ANNUALISED_VOL}."
    )
    vol_weekly: DecimalString | None = Field(
        description=f"HAR weekly component, sqrt(252 x 5-day mean r²), {ANNUALISED_VOL}."
    )
    vol_monthly: DecimalString | None = Field(
        description=f"HAR monthly component, sqrt(252 x 21-day mean r²), {ANNUALISED_VOL}."
    )
    expected_vol_21d: DecimalString | None = Field(
        description=f"HAR-RV forecast of the next 21 trading days, {ANNUALISED_VOL}."
    )
    vol_trend: str | None = Field(description=TREND + ".")
    vol_trend_strength: DecimalString | None = Field(
        description="min(1, |ln(21-day vol / 63-day vol)| / ln 2), 0..1."
    )
    vol_percentile: DecimalString | None = Field(description=PERCENTILE + ".")
    observations: int | None = Field(
        description="Daily returns in the history used (trading days)."
    )
    model_r_squared: DecimalString | None = Field(
        description=f"In-sample {R_SQUARED} of the vol-scale HAR regression."
    )
