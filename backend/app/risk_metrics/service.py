"""A portfolio's risk snapshot, with its sector over/underweights against a benchmark."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.benchmarks.repository import require_benchmark, weights_on_or_before
from app.core.errors import NotFoundError
from app.core.sectors import UnknownSectorError, to_gics
from app.core.types import DEFAULT_BENCHMARK
from app.formulas.concentration import active_weights as risk_active_weights
from app.models import BenchmarkSectorWeight, PortfolioSnapshot
from app.models.snapshot import SNAPSHOT_RISK_COLUMNS
from app.portfolios.repository import (
    Owner,
    benchmark_code_of,
    portfolio_is_visible,
    require_portfolio,
    stale_from_of,
)
from app.prices.repository import market_day_on_or_before

logger = logging.getLogger(__name__)

ZERO = Decimal(0)


@dataclass(frozen=True)
class ActiveWeight:
    """One sector's portfolio weight against the benchmark's."""

    sector: str
    portfolio_weight: Decimal
    benchmark_weight: Decimal
    active_weight: Decimal


@dataclass(frozen=True)
class ActiveSectorWeights:
    """A snapshot's sector exposure against a benchmark's weights of one date."""

    benchmark_code: str
    asof_date: date
    sectors: list[ActiveWeight]


@dataclass(frozen=True)
class RiskAsOf:
    """A portfolio's latest snapshot on or before a date, with its sector tilts."""

    snapshot: Row[Any]
    """portfolio_id, calculation_date, the snapshot's risk columns (SNAPSHOT_RISK_COLUMNS),
    stale_from and prices_as_of (the last SPY price date on or before calculation_date)."""
    sector_exposure: dict[str, Decimal] | None
    benchmark_comparison: ActiveSectorWeights | None
    benchmark_comparison_reason: str | None = None
    """Why ``benchmark_comparison`` is None (and what to do); None when there is one."""


def active_weights(
    portfolio: Mapping[str, Decimal], benchmark: Mapping[str, Decimal]
) -> list[ActiveWeight]:
    """Portfolio minus benchmark weight for every sector on either side (missing = 0),
    largest overweight first, ties by sector name."""
    rows = [
        ActiveWeight(s, portfolio.get(s, ZERO), benchmark.get(s, ZERO), active)
        for s, active in risk_active_weights(portfolio, benchmark).items()
    ]
    return sorted(rows, key=lambda r: (-r.active_weight, r.sector))


def normalise_exposure(raw: Mapping[str, Any]) -> dict[str, Decimal]:
    """sector_exposure JSON -> {GICS sector: weight}.

    Provider labels are mapped to GICS names (and merged if two map to one sector);
    labels outside the mapping are kept as stored; non-numeric values are skipped and
    logged rather than failing the whole response.
    """
    exposure: dict[str, Decimal] = {}
    for label, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            logger.warning("sector_exposure[%r] is not a number; skipped", label)
            continue
        try:
            weight = Decimal(str(value))
        except InvalidOperation:
            logger.warning("sector_exposure[%r] is not a number; skipped", label)
            continue
        if not weight.is_finite():
            logger.warning("sector_exposure[%r] is not finite; skipped", label)
            continue
        try:
            sector = to_gics(label)
        except UnknownSectorError:
            sector = label
        exposure[sector] = exposure.get(sector, ZERO) + weight
    return exposure


async def portfolio_risk(
    session: AsyncSession,
    portfolio_id: uuid.UUID,
    *,
    owner: Owner,
    on_or_before: date | None = None,
    benchmark_code: str | None = None,
) -> RiskAsOf:
    """The latest snapshot on or before ``on_or_before`` (latest overall if None), compared
    with the benchmark's weights of the latest date on or before the snapshot's date.
    A portfolio ``owner`` may not see is a PortfolioNotFoundError.

    ``benchmark_code`` named (a request's choice) must have weights stored (NotFoundError
    otherwise); None means the portfolio's own benchmark_code, whose comparison is simply
    left out, with the reason, when it has none (not seeded yet).
    """
    s = PortfolioSnapshot.__table__.c
    # Ownership in the same query as the snapshot; only a miss asks which it was.
    stmt = select(
        s.portfolio_id,
        s.calculation_date,
        *(s[c] for c in SNAPSHOT_RISK_COLUMNS),
        stale_from_of(portfolio_id).label("stale_from"),
        market_day_on_or_before(s.calculation_date).label("prices_as_of"),
        benchmark_code_of(portfolio_id).label("benchmark_code"),
    ).where(s.portfolio_id == portfolio_id, portfolio_is_visible(portfolio_id, owner))
    if on_or_before is not None:
        stmt = stmt.where(s.calculation_date <= on_or_before)
    found = await session.execute(stmt.order_by(s.calculation_date.desc()).limit(1))
    snapshot: Row[Any] | None = found.first()  # type: ignore[assignment]
    if snapshot is None:
        await require_portfolio(session, portfolio_id, owner=owner)
    if benchmark_code is not None:
        await require_benchmark(session, benchmark_code)
    if snapshot is None:
        when = f" on or before {on_or_before}" if on_or_before is not None else ""
        raise NotFoundError(f"portfolio {portfolio_id} has no snapshot{when}")

    exposure = (
        normalise_exposure(snapshot.sector_exposure)
        if isinstance(snapshot.sector_exposure, dict)
        else None
    )
    day = snapshot.calculation_date
    benchmark_code = benchmark_code or snapshot.benchmark_code
    if exposure is None:
        return RiskAsOf(
            snapshot,
            None,
            None,
            f"the snapshot of {day} has no sector exposure: run "
            f"scripts/calculate_risk_metrics.py --date {day}",
        )
    weights = await weights_on_or_before(session, benchmark_code, asof=day)
    if weights is None:
        return RiskAsOf(snapshot, exposure, None, await _no_weights(session, benchmark_code, day))
    comparison = ActiveSectorWeights(
        benchmark_code, weights.asof_date, active_weights(exposure, weights.by_sector())
    )
    return RiskAsOf(snapshot, exposure, comparison)


@dataclass(frozen=True)
class SectorTilts:
    """A portfolio's largest sector over- and underweight on a snapshot date against its
    own benchmark, as :func:`portfolio_risk` compares them, or why there are none."""

    benchmark_code: str | None
    asof_date: date | None = None
    """The date of the benchmark weights compared with."""
    over: tuple[str, float] | None = None
    under: tuple[str, float] | None = None
    reason: str | None = None


async def largest_tilts(
    session: AsyncSession, portfolio_id: uuid.UUID, *, owner: Owner, day: date
) -> SectorTilts:
    """The portfolio's :class:`SectorTilts` on its latest snapshot on or before ``day``."""
    try:
        risk = await portfolio_risk(session, portfolio_id, owner=owner, on_or_before=day)
    except NotFoundError as exc:  # deleted meanwhile, or no snapshot
        return SectorTilts(None, reason=str(exc))
    code: str = risk.snapshot.benchmark_code
    comparison = risk.benchmark_comparison
    if comparison is None or not comparison.sectors:  # the reason says what to run
        return SectorTilts(code, reason=risk.benchmark_comparison_reason)
    hi, lo = comparison.sectors[0], comparison.sectors[-1]
    return SectorTilts(
        code,
        comparison.asof_date,
        (hi.sector, float(hi.active_weight)),
        (lo.sector, float(lo.active_weight)),
    )


async def _no_weights(session: AsyncSession, benchmark_code: str, day: date) -> str:
    earliest = await session.scalar(
        select(func.min(BenchmarkSectorWeight.asof_date)).where(
            BenchmarkSectorWeight.benchmark_code == benchmark_code
        )
    )
    if earliest is None:
        how = (  # the demo's weights are the default benchmark's only
            "scripts/seed_benchmark_weights.py (the demo's come with scripts/demo_data.py)"
            if benchmark_code == DEFAULT_BENCHMARK
            else f"scripts/seed_benchmark_weights.py --benchmark {benchmark_code}"
        )
        return f"no {benchmark_code} sector weights are stored: seed them with {how}"
    return (
        f"no {benchmark_code} sector weights on or before {day}: the earliest stored are of "
        f"{earliest}"
    )
