"""Stress scenarios over HTTP: a portfolio's P&L in each, owner-scoped (another user's
portfolio is a 404, exactly as a missing one)."""

from __future__ import annotations

import uuid

from app.api.deps import AsOfDate, CurrentUser, SessionDep, signed_in_router
from app.api.responses import NOT_FOUND
from app.stress import service
from app.stress.schemas import (
    FactorMove,
    RevaluationRead,
    ScenarioRead,
    StressRead,
    fraction,
    money,
)

router = signed_in_router("/portfolios", "portfolios")


def _revaluation(found: service.Revaluation | None) -> RevaluationRead | None:
    if found is None:
        return None
    return RevaluationRead(
        pnl=money(found.pnl),
        model_pnl=money(found.model_pnl),
        model_error=money(found.pnl - found.model_pnl),
        coverage=fraction(found.coverage),
        not_covered=[{"symbol": s, "reason": r} for s, r in found.not_covered],
    )


@router.get(
    "/{portfolio_id}/stress",
    response_model=StressRead,
    summary="P&L of the portfolio in each stress scenario, from its factor exposures on the "
    "latest date on or before date (and by full revaluation for historical replays)",
    responses=NOT_FOUND,
)
async def portfolio_stress(
    portfolio_id: uuid.UUID, session: SessionDep, user: CurrentUser, on: AsOfDate = None
) -> StressRead:
    report = await service.portfolio_stress(session, portfolio_id, owner=user.id, on_or_before=on)
    return StressRead(
        portfolio_id=report.portfolio_id,
        calculation_date=report.calculation_date,
        currency=report.currency,
        denominator=money(report.denominator),
        denominator_is_equity=report.denominator_is_equity,
        scenario_file_version=report.scenario_version,
        scenarios=[
            ScenarioRead(
                code=r.scenario.code,
                name=r.scenario.name,
                kind=r.scenario.kind,
                start=r.scenario.start,
                end=r.scenario.end,
                window=list(r.window) if r.window else None,
                moves=[
                    FactorMove(factor=m.factor, move=fraction(m.move), null_reason=m.null_reason)
                    for m in r.moves
                ],
                pnl=money(r.pnl),
                pnl_fraction=fraction(r.pnl_fraction),
                null_reason=r.null_reason,
                left_out=[
                    FactorMove(factor=m.factor, move=fraction(m.move), null_reason=m.null_reason)
                    for m in r.left_out
                ],
                revaluation=_revaluation(r.revaluation),
            )
            for r in report.results
        ],
    )
