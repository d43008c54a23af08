"""Position volatility history."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import DEFAULT_LIMIT, CursorParam, Limit, SessionDep
from app.api.responses import BAD_REQUEST, NOT_FOUND
from app.schemas.pagination import Page
from app.schemas.risk import PositionVolatilityRead
from app.services import risk_rows

router = APIRouter(prefix="/positions", tags=["positions"])


@router.get(
    "/{position_id}/volatility",
    response_model=Page[PositionVolatilityRead],
    summary="Stored position volatility, newest calculation_date first",
    responses=NOT_FOUND | BAD_REQUEST,
)
async def position_volatility(
    position_id: uuid.UUID,
    session: SessionDep,
    start: Annotated[date | None, Query(alias="from", description="YYYY-MM-DD, inclusive.")] = None,
    end: Annotated[date | None, Query(alias="to", description="YYYY-MM-DD, inclusive.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> Page[PositionVolatilityRead]:
    page = await risk_rows.position_volatility(
        session, position_id, start=start, end=end, limit=limit, cursor=cursor
    )
    return Page[PositionVolatilityRead](
        items=[PositionVolatilityRead.model_validate(row) for row in page.items],
        next_cursor=page.next_cursor,
    )
