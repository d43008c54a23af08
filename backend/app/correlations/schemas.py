"""What GET /portfolios/{id}/correlations answers."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field

from app.core.types import DecimalString


class CorrelatedHolding(BaseModel):
    position_id: uuid.UUID
    symbol: str
    series: str = Field(description="The price series it moves with (an option's underlying).")
    weight: DecimalString = Field(
        description="Signed exposure / gross exposure of the book (-0.25 = a short of 25%)."
    )
    volatility: DecimalString = Field(
        description="Annualised volatility of the series' daily returns over the days used, "
        "as a decimal fraction (0.25 = 25%)."
    )


class LeftOutHolding(BaseModel):
    position_id: uuid.UUID
    symbol: str
    weight: DecimalString | None = Field(description="Null without a price to weigh it.")
    reason: str = Field(description="Why it is not in the matrix, and what to do.")


class PortfolioCorrelations(BaseModel):
    portfolio_id: uuid.UUID
    as_of: date | None = Field(
        description="The market's last trading day on or before `date` (default: its last); "
        "null when it has no price by then (nothing to compute: the reason says what to load)."
    )
    window_days: int = Field(description="Trading days of returns looked at (the beta window).")
    observations: int = Field(
        description="Days used: those on which every holding in the matrix has a return."
    )
    holdings: list[CorrelatedHolding] = Field(
        description="The largest holdings by |weight| (up to `top`), largest first: the "
        "rows and columns of `matrix`."
    )
    matrix: list[list[DecimalString]] = Field(
        description="Correlations of the holdings' daily returns (total-return closes), "
        "-1..1, symmetric with 1 on the diagonal; matrix[i][j] is holdings[i] with holdings[j]."
    )
    diversification_ratio: DecimalString | None = Field(
        description="Of the holdings in the matrix: sum |weight| x volatility / the "
        "volatility of those holdings together; 1 = no diversification. Null with a reason."
    )
    diversification_ratio_reason: str | None = Field(
        description="Why diversification_ratio is null; null when it is not."
    )
    left_out: list[LeftOutHolding] = Field(
        description="Holdings among the largest (or without a price) that are not in the "
        "matrix, each with its reason."
    )
    smaller_holdings: int = Field(
        description="Holdings beyond the `top` largest, not looked at (raise `top`, up to 25)."
    )
