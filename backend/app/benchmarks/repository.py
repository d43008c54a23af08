"""Reads and writes of benchmarks_sector_weights.

"Weights as of D" always means every sector of ONE asof_date, the latest on or before D,
picked in the same statement that reads the rows so no mix of dates can come back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Table, and_, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.benchmarks.weights import SectorWeights, validate_sector_weights
from app.core.errors import InvalidQueryError, NotFoundError
from app.core.sectors import UnknownSectorError, to_gics
from app.core.types import DateRange
from app.models import BenchmarkSectorWeight

_table: Table = BenchmarkSectorWeight.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class BenchmarkWeights:
    benchmark_code: str
    asof_date: date
    rows: Sequence[Row[Any]]
    """Every column of benchmarks_sector_weights but the timestamps, ordered by sector."""

    def by_sector(self) -> dict[str, Decimal]:
        return {row.sector: row.weight for row in self.rows}


async def benchmark_exists(session: AsyncSession, benchmark_code: str) -> bool:
    stmt = select(exists().where(_table.c.benchmark_code == benchmark_code))
    return bool(await session.scalar(stmt))


async def require_benchmark(session: AsyncSession, benchmark_code: str) -> None:
    if not await benchmark_exists(session, benchmark_code):
        raise NotFoundError(f"unknown benchmark {benchmark_code!r}: no sector weights stored")


async def weights_on_or_before(
    session: AsyncSession, benchmark_code: str, *, asof: date | None = None
) -> BenchmarkWeights | None:
    """The weights of the latest asof_date on or before ``asof`` (latest overall if None)."""
    t = _table.c  # Core: a request-path read, no ORM objects needed
    latest = select(func.max(t.asof_date)).where(t.benchmark_code == benchmark_code)
    if asof is not None:
        latest = latest.where(t.asof_date <= asof)
    stmt = (
        select(*(c for c in t if c.key not in ("created_at", "updated_at")))
        .where(t.benchmark_code == benchmark_code, t.asof_date == latest.scalar_subquery())
        .order_by(t.sector)
    )
    rows = (await session.execute(stmt)).all()
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
) -> Sequence[Row[Any]]:
    """Stored weights in [start, end], optionally one sector, ordered by date then sector
    (every column but the timestamps); NotFoundError for an unknown benchmark.

    ``sector`` may be a GICS name or a provider label (normalised through app.core.sectors).
    """
    DateRange(start, end)
    gics = None
    if sector is not None:
        try:
            gics = to_gics(sector)
        except UnknownSectorError as exc:
            raise InvalidQueryError(str(exc)) from None
    t = _table.c
    stmt = select(*(c for c in t if c.key not in ("created_at", "updated_at"))).where(
        t.benchmark_code == benchmark_code
    )
    if gics is not None:
        stmt = stmt.where(t.sector == gics)
    if start is not None:
        stmt = stmt.where(t.asof_date >= start)
    if end is not None:
        stmt = stmt.where(t.asof_date <= end)
    rows = (await session.execute(stmt.order_by(t.asof_date, t.sector))).all()
    if not rows:  # none in range, or no such benchmark: only then ask which
        await require_benchmark(session, benchmark_code)
    return rows


# --- writes -------------------------------------------------------------------------


@dataclass(frozen=True)
class UpsertResult:
    inserted: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]

    def status_of(self, sector: str) -> str:
        for name in ("inserted", "updated", "unchanged"):
            if sector in getattr(self, name):
                return name
        return "removed" if sector in self.removed else "-"


def _lock_key(benchmark_code: str) -> int:
    """A stable signed 64-bit advisory-lock key per benchmark."""
    digest = hashlib.blake2b(f"{_table.name}:{benchmark_code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def upsert_sector_weights(session: AsyncSession, weights: SectorWeights) -> UpsertResult:
    """Write all sectors of ``weights`` for its date; idempotent, safe under concurrency.

    Takes a transaction-level advisory lock for the benchmark (released when the caller
    commits or rolls back), so concurrent runs write one after the other. Rows whose
    values are unchanged are not touched (their ``updated_at`` stays), earlier dates are
    never touched, and sectors of this date missing from ``weights`` are deleted.
    """
    validate_sector_weights(weights)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(weights.benchmark_code)}
    )
    c = _table.c
    same_date = and_(c.benchmark_code == weights.benchmark_code, c.asof_date == weights.asof_date)
    existing = set((await session.scalars(select(c.sector).where(same_date))).all())

    insert = pg_insert(_table).values(
        [
            {
                "benchmark_code": weights.benchmark_code,
                "asof_date": weights.asof_date,
                "sector": r.sector,
                "weight": r.weight,
                "market_cap": r.market_cap,
                "num_constituents": r.num_constituents,
                "data_source": weights.data_source,
            }
            for r in weights.rows
        ]
    )
    new = insert.excluded
    changing = ("weight", "market_cap", "num_constituents", "data_source")
    upsert = insert.on_conflict_do_update(
        index_elements=[c.benchmark_code, c.asof_date, c.sector],
        set_={name: new[name] for name in changing},
        where=or_(*(c[name].is_distinct_from(new[name]) for name in changing)),
    ).returning(c.sector)
    written = set((await session.scalars(upsert)).all())

    sectors = [r.sector for r in weights.rows]
    removed = (
        await session.scalars(
            _table.delete().where(same_date, c.sector.not_in(sectors)).returning(c.sector)
        )
    ).all()
    await session.flush()
    return UpsertResult(
        inserted=tuple(s for s in sectors if s in written and s not in existing),
        updated=tuple(s for s in sectors if s in written and s in existing),
        unchanged=tuple(s for s in sectors if s not in written),
        removed=tuple(sorted(removed)),
    )


async def delete_sector_weights(
    session: AsyncSession, benchmark_code: str, data_source: str
) -> int:
    """Delete every date's weights of ``benchmark_code`` from ``data_source`` (taking a
    source's data out, as the demo's ``--remove`` does); returns the rows deleted. Takes
    the benchmark's lock, as a write of its weights does."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(benchmark_code)}
    )
    c = _table.c
    deleted = await session.scalars(
        _table.delete()
        .where(c.benchmark_code == benchmark_code, c.data_source == data_source)
        .returning(c.id)
    )
    return len(deleted.all())
