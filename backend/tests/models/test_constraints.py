"""What the schema itself enforces: uniqueness, value domains, cascades, defaults, updated_at."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    BenchmarkSectorWeight,
    Portfolio,
    PortfolioSnapshot,
    Position,
    PositionMarketBeta,
    PositionVolatility,
)
from tests.support.factories import (
    beta_row,
    make_portfolio,
    make_position,
    snapshot_row,
    volatility_row,
)

DAY = date(2025, 10, 17)


async def _rejects(session: AsyncSession, row: Any) -> str:
    """Insert ``row`` in a savepoint and return the violated constraint's message."""
    with pytest.raises(IntegrityError) as excinfo:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    return str(excinfo.value.orig)


async def _beta(session: AsyncSession, **overrides: Any) -> PositionMarketBeta:
    portfolio = await make_portfolio(session)
    position = await make_position(session, portfolio)
    values: dict[str, Any] = {"beta": Decimal("1.1")}
    return beta_row(portfolio.id, position.id, DAY, **(values | overrides))


async def test_spec_defaults_are_applied_by_the_database(session: AsyncSession) -> None:
    beta = await _beta(session)
    weight = BenchmarkSectorWeight(
        benchmark_code="SP500", asof_date=DAY, sector="Energy", weight=Decimal("0.03")
    )
    session.add_all([beta, weight])
    await session.flush()
    await session.refresh(beta)
    await session.refresh(weight)
    assert (beta.window_days, beta.method, beta.market_index) == (90, "OLS_SIMPLE", "SPY")
    assert weight.data_source == "FMP"
    assert beta.id is not None and beta.created_at is not None


async def test_market_beta_unique_per_position_date_method_window(session: AsyncSession) -> None:
    first = await _beta(session)
    session.add(first)
    await session.flush()
    twin = beta_row(
        first.portfolio_id, first.position_id, DAY, beta=Decimal("0.9"), observations=60
    )
    assert "uq_position_market_betas_calc" in await _rejects(session, twin)
    # Another window on the same day is a different calculation.
    other_window = beta_row(
        first.portfolio_id,
        first.position_id,
        DAY,
        beta=Decimal("0.9"),
        observations=60,
        window_days=60,
    )
    session.add(other_window)
    await session.flush()


async def test_benchmark_weight_unique_per_code_date_sector(session: AsyncSession) -> None:
    def row() -> BenchmarkSectorWeight:
        return BenchmarkSectorWeight(
            benchmark_code="SP500", asof_date=DAY, sector="Energy", weight=Decimal("0.03")
        )

    session.add(row())
    await session.flush()
    assert "uq_benchmarks_sector_weights_code_date_sector" in await _rejects(session, row())


async def test_position_volatility_unique_per_position_date(session: AsyncSession) -> None:
    position = await make_position(session, await make_portfolio(session))
    session.add(volatility_row(position.id, DAY))
    await session.flush()
    twin = volatility_row(position.id, DAY)
    assert "uq_position_volatility_position_date" in await _rejects(session, twin)


async def test_snapshot_unique_per_portfolio_date(session: AsyncSession) -> None:
    portfolio = await make_portfolio(session)
    session.add(snapshot_row(portfolio.id, DAY))
    await session.flush()
    twin = snapshot_row(portfolio.id, DAY)
    assert "uq_portfolio_snapshots_portfolio_date" in await _rejects(session, twin)


@pytest.mark.parametrize(
    ("column", "bad", "good"),
    [
        ("weight", Decimal("1.5"), Decimal("1")),
        ("weight", Decimal("-0.01"), Decimal("0")),
        ("market_cap", Decimal("-1"), Decimal("0")),
        ("num_constituents", -1, 0),
    ],
)
async def test_benchmark_weight_domains(
    session: AsyncSession, column: str, bad: Any, good: Any
) -> None:
    def row(value: Any) -> BenchmarkSectorWeight:
        base: dict[str, Any] = {
            "benchmark_code": "SP500",
            "asof_date": DAY,
            "sector": "Energy",
            "weight": Decimal("0.5"),
        }
        return BenchmarkSectorWeight(**(base | {column: value}))

    assert f"ck_benchmarks_sector_weights_{column}" in await _rejects(session, row(bad))
    session.add(row(good))
    await session.flush()


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        ("r_squared", Decimal("1.000001")),
        ("p_value", Decimal("-0.5")),
        ("std_error", Decimal("-0.1")),
        ("observations", -1),
    ],
)
async def test_market_beta_domains(session: AsyncSession, column: str, bad: Any) -> None:
    row = await _beta(session, **{column: bad})
    assert f"ck_position_market_betas_{column}" in await _rejects(session, row)


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        ("vol_trend", "sideways"),
        ("vol_trend_strength", Decimal("1.5")),
        ("vol_percentile", Decimal("-0.1")),
        ("model_r_squared", Decimal("2")),
        ("realized_vol_21d", Decimal("-0.2")),
        ("observations", -5),
    ],
)
async def test_position_volatility_domains(session: AsyncSession, column: str, bad: Any) -> None:
    position = await make_position(session, await make_portfolio(session))
    row = volatility_row(position.id, DAY, **{column: bad})
    assert f"ck_position_volatility_{column}" in await _rejects(session, row)


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        ("market_beta_r_squared", Decimal("1.1")),
        ("market_beta_observations", -1),
        ("hhi", Decimal("10000.01")),
        ("effective_num_positions", Decimal("-1")),
        ("top_3_concentration", Decimal("1.01")),
        ("top_10_concentration", Decimal("-0.01")),
        ("volatility_trend", "up"),
        ("volatility_percentile", Decimal("1.0001")),
        ("realized_volatility_63d", Decimal("-0.0001")),
    ],
)
async def test_snapshot_domains(session: AsyncSession, column: str, bad: Any) -> None:
    portfolio = await make_portfolio(session)
    row = snapshot_row(portfolio.id, DAY, **{column: bad})
    assert f"ck_portfolio_snapshots_{column}" in await _rejects(session, row)


async def test_trend_values_the_spec_names_are_accepted(session: AsyncSession) -> None:
    portfolio = await make_portfolio(session)
    position = await make_position(session, portfolio)
    for offset, trend in enumerate(("increasing", "decreasing", "stable")):
        day = date(2025, 10, 1 + offset)
        session.add(snapshot_row(portfolio.id, day, volatility_trend=trend))
        session.add(volatility_row(position.id, day, vol_trend=trend))
    await session.flush()


async def _count(session: AsyncSession, model: Any) -> int:
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_deleting_a_position_cascades_to_its_risk_rows(session: AsyncSession) -> None:
    beta = await _beta(session)
    session.add(beta)
    session.add(volatility_row(beta.position_id, DAY))
    await session.flush()
    await session.execute(text("DELETE FROM positions WHERE id = :id"), {"id": beta.position_id})
    assert await _count(session, PositionMarketBeta) == 0
    assert await _count(session, PositionVolatility) == 0
    assert await _count(session, Portfolio) == 1


async def test_deleting_a_portfolio_cascades_everywhere(session: AsyncSession) -> None:
    beta = await _beta(session)
    session.add(beta)
    session.add(snapshot_row(beta.portfolio_id, DAY))
    await session.flush()
    await session.execute(text("DELETE FROM portfolios WHERE id = :id"), {"id": beta.portfolio_id})
    for model in (Position, PortfolioSnapshot, PositionMarketBeta):
        assert await _count(session, model) == 0


async def _timestamps(session: AsyncSession, row_id: Any) -> tuple[Any, Any]:
    result = await session.execute(
        text("SELECT created_at, updated_at FROM benchmarks_sector_weights WHERE id = :id"),
        {"id": row_id},
    )
    return tuple(result.one())  # type: ignore[return-value]


async def test_updated_at_moves_on_every_kind_of_update(session: AsyncSession) -> None:
    row = BenchmarkSectorWeight(
        benchmark_code="SP500", asof_date=DAY, sector="Energy", weight=Decimal("0.03")
    )
    session.add(row)
    await session.flush()
    created, first = await _timestamps(session, row.id)
    assert first == created

    # ORM update
    await session.execute(
        update(BenchmarkSectorWeight)
        .where(BenchmarkSectorWeight.id == row.id)
        .values(weight=Decimal("0.04"))
    )
    _, after_orm = await _timestamps(session, row.id)
    assert after_orm > first

    # Raw SQL
    await session.execute(
        text("UPDATE benchmarks_sector_weights SET weight = 0.05 WHERE id = :id"), {"id": row.id}
    )
    _, after_sql = await _timestamps(session, row.id)
    assert after_sql > after_orm

    # INSERT ... ON CONFLICT DO UPDATE
    stmt = insert(BenchmarkSectorWeight).values(
        benchmark_code="SP500", asof_date=DAY, sector="Energy", weight=Decimal("0.06")
    )
    await session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_benchmarks_sector_weights_code_date_sector",
            set_={"weight": stmt.excluded.weight},
        )
    )
    created_again, after_upsert = await _timestamps(session, row.id)
    assert after_upsert > after_sql
    assert created_again == created
