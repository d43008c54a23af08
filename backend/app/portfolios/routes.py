"""The caller's portfolios and their positions: where a client finds the ids the risk
endpoints take.

Every route needs a signed-in user and sees only that user's portfolios: another user's is
a 404, exactly as a missing one.
"""

from __future__ import annotations

import uuid

from app.api.deps import AsOfDate, CurrentUser, SessionDep, signed_in_router
from app.api.responses import NOT_FOUND
from app.portfolios import repository, service
from app.portfolios.market_data import data_statuses, load_hint
from app.portfolios.schemas import (
    HeldPositionRead,
    PortfolioList,
    PortfolioPositions,
    PortfolioSummary,
)

router = signed_in_router("/portfolios", "portfolios")


@router.get(
    "",
    response_model=PortfolioList,
    summary="The signed-in user's portfolios, by name, with their latest snapshot date and "
    "stale mark",
)
async def list_portfolios(session: SessionDep, user: CurrentUser) -> PortfolioList:
    rows = await repository.portfolio_summaries(session, owner=user.id)
    return PortfolioList(items=[PortfolioSummary.model_validate(row) for row in rows])


@router.get(
    "/{portfolio_id}/positions",
    response_model=PortfolioPositions,
    summary="Positions held as of a snapshot date, valued, with their stored beta and vol",
    description=(
        "as_of is the latest snapshot date on or before `date` (default: the latest "
        "snapshot). Without one, as_of is null and the items are the positions held today, "
        "with null figures."
    ),
    responses=NOT_FOUND,
)
async def portfolio_positions(
    portfolio_id: uuid.UUID, session: SessionDep, user: CurrentUser, on: AsOfDate = None
) -> PortfolioPositions:
    holdings = await service.portfolio_holdings(
        session, portfolio_id, owner=user.id, on_or_before=on
    )
    series = {
        v.position.id: v.position.underlying_symbol or v.position.symbol for v in holdings.positions
    }
    statuses = await data_statuses(session, series.values())
    return PortfolioPositions(
        portfolio_id=holdings.portfolio_id,
        as_of=holdings.as_of,
        items=[
            HeldPositionRead(
                id=v.position.id,
                symbol=v.position.symbol,
                underlying_symbol=v.position.underlying_symbol,
                position_type=v.position.position_type,
                quantity=v.position.quantity,
                market_value=v.market_value,
                weight=v.weight,
                beta=v.beta,
                r_squared=v.r_squared,
                realized_vol_21d=v.realized_vol_21d,
                vol_trend=v.vol_trend,
                data_status=statuses.get(series[v.position.id]),
                data_hint=load_hint([series[v.position.id]])
                if statuses.get(series[v.position.id])
                else None,
                price_date=v.price_date,
                excluded_reason=None if v.excluded is None else v.excluded["reason"],
                excluded_detail=None if v.excluded is None else v.excluded["detail"],
            )
            for v in holdings.positions
        ],
        first_entry_date=holdings.first_entry_date,
        last_price_date=holdings.last_price_date,
    )
