"""Risk figures over HTTP: a portfolio's snapshot and position betas, a position's volatility.

Every route here needs a signed-in user and sees only that user's portfolios (and their
positions): another user's is a 404, exactly as a missing one.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import Query, Response

from app.api.deps import (
    DEFAULT_LIMIT,
    AsOfDate,
    CurrentUser,
    CursorParam,
    Limit,
    SessionDep,
    signed_in_router,
)
from app.api.responses import BAD_REQUEST, NOT_FOUND
from app.api.wire import json_response, row_dicts
from app.core.pagination import Page
from app.core.types import DEFAULT_BENCHMARK, BenchmarkCode
from app.risk_metrics import queries, service
from app.risk_metrics.schemas import (
    BenchmarkComparison,
    MarketBetaRead,
    PortfolioRisk,
    PositionVolatilityRead,
    RiskHistory,
)

portfolio_router = signed_in_router("/portfolios", "portfolios")
position_router = signed_in_router("/positions", "positions")


@portfolio_router.get(
    "/{portfolio_id}/risk",
    response_model=PortfolioRisk,
    summary="Risk columns of the latest snapshot on or before date, with sector active weights",
    responses=NOT_FOUND,
)
async def portfolio_risk(
    portfolio_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    on: AsOfDate = None,
    benchmark: Annotated[
        BenchmarkCode | None,
        Query(
            description=(
                "Benchmark for over/underweights (default: the portfolio's benchmark_code, "
                f"{DEFAULT_BENCHMARK} unless set). A benchmark named here must have sector "
                "weights stored (404); the portfolio's own is just left out if not seeded."
            ),
        ),
    ] = None,
) -> PortfolioRisk:
    found = await service.portfolio_risk(
        session,
        portfolio_id,
        owner=user.id,
        on_or_before=on,
        benchmark_code=benchmark,
    )
    snap = found.snapshot
    comparison = found.benchmark_comparison
    risk_columns = {c: getattr(snap, c) for c in queries.SNAPSHOT_FIGURE_COLUMNS}
    return PortfolioRisk(
        portfolio_id=snap.portfolio_id,
        calculation_date=snap.calculation_date,
        stale_from=snap.stale_from,
        prices_as_of=snap.prices_as_of,
        excluded_positions=snap.excluded_positions or [],
        **risk_columns,
        sector_exposure=found.sector_exposure,
        benchmark_comparison=None
        if comparison is None
        else BenchmarkComparison.model_validate(comparison),
        benchmark_comparison_reason=found.benchmark_comparison_reason,
    )


@portfolio_router.get(
    "/{portfolio_id}/risk/history",
    response_model=RiskHistory,
    summary="The snapshot risk columns per calculation date, oldest first (for charts)",
    description=(
        "One point per stored snapshot in [from, to] (both optional, inclusive), with every "
        "risk column of GET /risk but sector_exposure (a map, per date in GET /risk)."
    ),
    responses=NOT_FOUND | BAD_REQUEST,
)
async def portfolio_risk_history(
    portfolio_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[date | None, Query(alias="from", description="YYYY-MM-DD, inclusive.")] = None,
    end: Annotated[date | None, Query(alias="to", description="YYYY-MM-DD, inclusive.")] = None,
) -> Response:
    rows = await queries.snapshot_risk_history(
        session, portfolio_id, owner=user.id, start=start, end=end
    )
    return json_response({"portfolio_id": portfolio_id, "points": row_dicts(rows)})


@portfolio_router.get(
    "/{portfolio_id}/market-betas",
    response_model=Page[MarketBetaRead],
    summary="Stored position market betas, newest calc_date first",
    description=(
        "Every stored beta, or with `date` only those of the latest calc_date on or before "
        "it (an empty page when there is none)."
    ),
    responses=NOT_FOUND | BAD_REQUEST,
)
async def market_betas(
    portfolio_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    as_of: AsOfDate = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> Response:
    page = await queries.portfolio_market_betas(
        session, portfolio_id, owner=user.id, as_of=as_of, limit=limit, cursor=cursor
    )
    return json_response({"items": row_dicts(page.items), "next_cursor": page.next_cursor})


@position_router.get(
    "/{position_id}/volatility",
    response_model=Page[PositionVolatilityRead],
    summary="Stored position volatility, newest calculation_date first",
    responses=NOT_FOUND | BAD_REQUEST,
)
async def position_volatility(
    position_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[date | None, Query(alias="from", description="YYYY-MM-DD, inclusive.")] = None,
    end: Annotated[date | None, Query(alias="to", description="YYYY-MM-DD, inclusive.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> Response:
    page = await queries.position_volatility(
        session, position_id, owner=user.id, start=start, end=end, limit=limit, cursor=cursor
    )
    return json_response({"items": row_dicts(page.items), "next_cursor": page.next_cursor})
