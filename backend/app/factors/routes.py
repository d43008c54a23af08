"""Factor exposures over HTTP: a portfolio's and its positions' on one date.

Needs a signed-in user and shows only that user's portfolios: another user's is a 404,
exactly as a missing one.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row

from app.api.deps import AsOfDate, CurrentUser, SessionDep, signed_in_router
from app.api.responses import NOT_FOUND
from app.factors import queries
from app.factors.definitions import default_factors
from app.factors.schemas import (
    FactorDefinition,
    FactorExposures,
    PortfolioFactorFigures,
    PortfolioFactorLoading,
    PositionFactorExposures,
    PositionFactorLoading,
)

router = signed_in_router("/portfolios", "portfolios")


def _ordered(rows: list[Row[Any]], codes: tuple[str, ...]) -> list[Row[Any]]:
    """Rows in the factor file's order; a factor no longer in the file comes last."""
    rank = {code: n for n, code in enumerate(codes)}
    return sorted(rows, key=lambda r: (rank.get(r.factor, len(rank)), r.factor))


@router.get(
    "/{portfolio_id}/factors",
    response_model=FactorExposures,
    summary="Factor exposures of the portfolio and its positions, on the latest date on or "
    "before date",
    responses=NOT_FOUND,
)
async def portfolio_factors(
    portfolio_id: uuid.UUID, session: SessionDep, user: CurrentUser, on: AsOfDate = None
) -> FactorExposures:
    found = await queries.factor_exposures(session, portfolio_id, owner=user.id, on_or_before=on)
    factor_set = default_factors()
    portfolio_rows = _ordered(found.portfolio, factor_set.codes)
    first = portfolio_rows[0]
    by_position: dict[uuid.UUID, list[Row[Any]]] = {}
    for row in found.positions:
        by_position.setdefault(row.position_id, []).append(row)
    positions = []
    for rows in by_position.values():
        rows = _ordered(rows, factor_set.codes)
        fit = next((r for r in rows if r.estimator is not None), rows[0])
        positions.append(
            PositionFactorExposures(
                position_id=fit.position_id,
                symbol=fit.symbol,
                r_squared=fit.r_squared,
                specific_volatility=fit.specific_volatility,
                observations=fit.observations,
                estimator=fit.estimator,
                guarded=fit.estimator == "RIDGE",
                condition_number=fit.condition_number,
                loadings=[
                    PositionFactorLoading(
                        factor=r.factor,
                        exposure=r.exposure,
                        std_error=r.std_error,
                        t_stat=r.t_stat,
                        null_reason=r.null_reason,
                    )
                    for r in rows
                ],
            )
        )
    return FactorExposures(
        portfolio_id=portfolio_id,
        calculation_date=found.calculation_date,
        window_days=first.window_days,
        factors=[
            FactorDefinition(code=f.code, name=f.name, definition=f.definition)
            for f in factor_set.factors
        ],
        portfolio=PortfolioFactorFigures(
            r_squared=first.r_squared,
            specific_volatility=first.specific_volatility,
            observations=first.observations,
            estimator=first.estimator,
            ridge_positions=first.ridge_positions,
            exposures=[
                PortfolioFactorLoading(
                    factor=r.factor,
                    exposure=r.exposure,
                    coverage=r.coverage,
                    null_reason=r.null_reason,
                )
                for r in portfolio_rows
            ],
        ),
        positions=positions,
    )
