"""Read queries over benchmarks_sector_weights.

"Weights as of D" always means every sector of ONE asof_date, the latest on or before D,
picked in the same statement that reads the rows so no mix of dates can come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidQueryError, NotFoundError
from app.core.sectors import UnknownSectorError, to_gics
from app.core.types import DateRange
from app.models import BenchmarkSectorWeight


@dataclass(frozen=True)
class BenchmarkWeights:
    benchmark_code: str
    asof_date: date
    rows: Sequence[BenchmarkSectorWeight]
    """Ordered by sector."""

    def by_sector(self) -> dict[str, Decimal]:
        return {row.sector: row.weight for row in self.rows}


async def benchmark_exists(session: AsyncSession, benchmark_code: str) -> bool:
    stmt = select(exists().where(BenchmarkSectorWeight.benchmark_code == benchmark_code))
    return bool(await session.scalar(stmt))


async def require_benchmark(session: AsyncSession, benchmark_code: str) -> None:
    if not await benchmark_exists(session, benchmark_code):
        raise NotFoundError(f"unknown benchmark {benchmark_code!r}: no sector weights stored")


async def weights_on_or_before(
    session: AsyncSession, benchmark_code: str, *, asof: date | None = None
) -> BenchmarkWeights | None:
    """The weights of the latest asof_date on or before ``asof`` (latest overall if None)."""
    t = BenchmarkSectorWeight
    latest = select(func.max(t.asof_date)).where(t.benchmark_code == benchmark_code)
    if asof is not None:
        latest = latest.where(t.asof_date <= asof)
    stmt = (
        select(t)
        .where(t.benchmark_code == benchmark_code, t.asof_date == latest.scalar_subquery())
        .order_by(t.sector)
    )
    rows = (await session.scalars(stmt)).all()
    if not rows:
        return None
    return BenchmarkWeights(benchmark_code, rows[0].asof_date, rows)


async def sector_weights(
    session: AsyncSession, benchmark_code: str, *, asof: date | None = None
) -> BenchmarkWeights:
    """Like :func:`weights_on_or_before`, but a missing benchmark or date is an error."""
    found = await weights_on_or_before(session, benchmark_code, asof=asof)
    if found is not None:
        return found
    await require_benchmark(session, benchmark_code)
    raise NotFoundError(
        f"benchmark {benchmark_code!r} has no sector weights on or before {asof.isoformat()}"
        if asof is not None
        else f"benchmark {benchmark_code!r} has no sector weights"
    )


async def sector_weight_history(
    session: AsyncSession,
    benchmark_code: str,
    *,
    sector: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Sequence[BenchmarkSectorWeight]:
    """Stored weights in [start, end], optionally one sector, ordered by date then sector.

    ``sector`` may be a GICS name or a provider label (normalised through app.core.sectors).
    """
    DateRange(start, end)
    gics = None
    if sector is not None:
        try:
            gics = to_gics(sector)
        except UnknownSectorError as exc:
            raise InvalidQueryError(str(exc)) from None
    await require_benchmark(session, benchmark_code)
    t = BenchmarkSectorWeight
    stmt = select(t).where(t.benchmark_code == benchmark_code)
    if gics is not None:
        stmt = stmt.where(t.sector == gics)
    if start is not None:
        stmt = stmt.where(t.asof_date >= start)
    if end is not None:
        stmt = stmt.where(t.asof_date <= end)
    return (await session.scalars(stmt.order_by(t.asof_date, t.sector))).all()
