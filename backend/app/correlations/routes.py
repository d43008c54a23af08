"""GET /portfolios/{id}/correlations: the largest holdings' correlations, on request."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import Query

from app.api.deps import AsOfDate, CurrentUser, SessionDep, signed_in_router
from app.api.responses import NOT_FOUND
from app.correlations import service
from app.correlations.schemas import CorrelatedHolding, LeftOutHolding, PortfolioCorrelations
from app.formulas.book import DEFAULT_BETA_WINDOW

router = signed_in_router("/portfolios", "portfolios")

SIX_PLACES = Decimal("0.000001")


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(SIX_PLACES)


@router.get(
    "/{portfolio_id}/correlations",
    response_model=PortfolioCorrelations,
    summary="Correlation matrix of the largest holdings over the beta window, and the "
    "diversification ratio",
    description=(
        "Computed on request from stored total-return closes (adjusted_close) over the "
        f"{DEFAULT_BETA_WINDOW} trading days ending on as_of. Holdings without "
        "enough returns are named in left_out with the reason."
    ),
    responses=NOT_FOUND,
)
async def portfolio_correlations(
    portfolio_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    on: AsOfDate = None,
    top: Annotated[
        int,
        Query(
            ge=1,
            le=service.MAX_TOP,
            description=f"How many of the largest holdings (by |weight|), 1..{service.MAX_TOP}.",
        ),
    ] = service.DEFAULT_TOP,
) -> PortfolioCorrelations:
    found = await service.portfolio_correlations(
        session, portfolio_id, owner=user.id, on_or_before=on, top=top
    )
    return PortfolioCorrelations(
        portfolio_id=found.portfolio_id,
        as_of=found.as_of,
        window_days=found.window_days,
        observations=found.observations,
        holdings=[
            CorrelatedHolding(
                position_id=c.holding.position.id,
                symbol=c.holding.position.symbol,
                series=c.holding.series,
                weight=_decimal(c.holding.weight or 0.0),
                volatility=_decimal(c.annualised_vol),
            )
            for c in found.holdings
        ],
        matrix=[[_decimal(v) for v in row] for row in found.matrix],
        diversification_ratio=None
        if found.diversification_ratio is None
        else _decimal(found.diversification_ratio),
        diversification_ratio_reason=found.diversification_reason,
        left_out=[
            LeftOutHolding(
                position_id=x.holding.position.id,
                symbol=x.holding.position.symbol,
                weight=None if x.holding.weight is None else _decimal(x.holding.weight),
                reason=x.reason,
            )
            for x in found.left_out
        ],
        smaller_holdings=found.smaller_holdings,
    )
