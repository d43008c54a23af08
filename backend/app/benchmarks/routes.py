"""Benchmark sector weights: one date's weights, and their history."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.api.deps import SessionDep
from app.api.responses import BAD_REQUEST, NOT_FOUND
from app.benchmarks import repository
from app.benchmarks.schemas import (
    BenchmarkSectorWeights,
    SectorWeightHistory,
    SectorWeightPoint,
    SectorWeightRead,
)
from app.core.types import BenchmarkCode

router = APIRouter(prefix="/benchmarks", tags=["benchmarks"])

BenchmarkCodePath = Annotated[
    BenchmarkCode, Path(description="Benchmark identifier, e.g. SP500 (case-sensitive).")
]


@router.get(
    "/{code}/sector-weights",
    response_model=BenchmarkSectorWeights,
    summary="Sector weights of the latest date on or before asof",
    responses=NOT_FOUND,
)
async def sector_weights(
    code: BenchmarkCodePath,
    session: SessionDep,
    asof: Annotated[
        date | None, Query(description="YYYY-MM-DD; default: the latest stored date.")
    ] = None,
) -> BenchmarkSectorWeights:
    found = await repository.sector_weights(session, code, asof=asof)
    return BenchmarkSectorWeights(
        benchmark_code=found.benchmark_code,
        asof_date=found.asof_date,
        weights=[SectorWeightRead.model_validate(row) for row in found.rows],
    )


@router.get(
    "/{code}/sector-weights/history",
    response_model=SectorWeightHistory,
    summary="Stored sector weights over a date range",
    responses=NOT_FOUND | BAD_REQUEST,
)
async def sector_weight_history(
    code: BenchmarkCodePath,
    session: SessionDep,
    sector: Annotated[
        str | None,
        Query(max_length=64, description="GICS sector name (provider labels accepted)."),
    ] = None,
    start: Annotated[date | None, Query(alias="from", description="YYYY-MM-DD, inclusive.")] = None,
    end: Annotated[date | None, Query(alias="to", description="YYYY-MM-DD, inclusive.")] = None,
) -> SectorWeightHistory:
    rows = await repository.sector_weight_history(
        session, code, sector=sector, start=start, end=end
    )
    return SectorWeightHistory(
        benchmark_code=code, points=[SectorWeightPoint.model_validate(row) for row in rows]
    )
