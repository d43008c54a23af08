"""The demo's prices go through the one price upsert, never over another source's, and
come out again whole with --remove."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    BenchmarkSectorWeight,
    DailyPrice,
    Portfolio,
    PortfolioSnapshot,
    Position,
    SecurityProfile,
    User,
)
from app.prices.demo import (
    DEMO_EMAIL,
    DEMO_END,
    DEMO_FIGURES_FROM,
    FIGURES_DAYS,
    DemoOverOtherSourceError,
    demo_calendar,
    demo_symbols,
    load_demo_benchmark_weights,
    load_demo_data,
)
from app.prices.demo_removal import remove_demo_data
from app.prices.repository import PriceRow, ProfileRow, upsert_prices, upsert_profiles
from app.users.service import ensure_user
from tests.support.factories import make_portfolio, make_position, make_user


async def _count(session: AsyncSession, model: type, *where: object) -> int:
    stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
    return int(await session.scalar(stmt) or 0)


async def test_a_reload_of_one_source_leaves_no_stale_adjusted_close(
    session: AsyncSession,
) -> None:
    # The engine reads returns from adjusted_close: a re-load replaces it with the close
    # it comes with, and every other value column too.
    await upsert_prices(
        session, [PriceRow("SPY", DEMO_END, Decimal("500"), Decimal("123.45"), 7)], "CSV"
    )
    await upsert_prices(session, [PriceRow("SPY", DEMO_END, Decimal("501"), Decimal("501"))], "CSV")
    row = (
        await session.execute(
            select(
                DailyPrice.close, DailyPrice.adjusted_close, DailyPrice.volume
            ).execution_options(populate_existing=True)
        )
    ).one()
    assert tuple(row) == (Decimal("501.000000"), Decimal("501.000000"), None)


@pytest.mark.parametrize("kind", ["prices", "profile"])
async def test_the_demo_never_loads_over_another_sources_data(
    session: AsyncSession, kind: str
) -> None:
    if kind == "prices":
        await upsert_prices(
            session, [PriceRow("SPY", DEMO_END, Decimal("664.39"), Decimal("664.39"))], "FMP"
        )
    else:
        await upsert_profiles(session, [ProfileRow("XOM", "Energy", name="Exxon")], "CSV")
    owner = await ensure_user(session, DEMO_EMAIL)
    with pytest.raises(DemoOverOtherSourceError) as refused:
        await load_demo_data(session, owner_id=owner.user.id)
    expected = "prices of SPY (1 row from FMP" if kind == "prices" else "the profile of XOM (CSV)"
    assert expected in str(refused.value)
    assert "the demo never replaces data from another source" in str(refused.value)
    # Refused before writing: the real row is all there is.
    assert await _count(session, DailyPrice) == (1 if kind == "prices" else 0)
    assert await _count(session, Portfolio) == 0


async def test_demo_load_is_idempotent(session: AsyncSession) -> None:
    owner = await ensure_user(session, DEMO_EMAIL)
    first = await load_demo_data(session, owner_id=owner.user.id)
    second = await load_demo_data(session, owner_id=owner.user.id)
    assert first == second
    count = len((await session.scalars(select(DailyPrice.id))).all())
    assert count == first.prices
    # No split or dividend in the synthetic series: each close is its own total return.
    assert await _count(session, DailyPrice, DailyPrice.adjusted_close != DailyPrice.close) == 0
    assert first.last_date == DEMO_END and first.first_date < date(2024, 1, 1)


def test_the_suggested_range_is_the_last_year_of_demo_trading_days() -> None:
    calendar = demo_calendar()
    assert date(2024, 10, 21) == DEMO_FIGURES_FROM
    assert calendar[-FIGURES_DAYS:][0] == DEMO_FIGURES_FROM and calendar[-1] == DEMO_END


async def test_remove_takes_every_demo_row_out_and_nothing_else(session: AsyncSession) -> None:
    owner = await ensure_user(session, DEMO_EMAIL)
    demo = await load_demo_data(session, owner_id=owner.user.id)
    await load_demo_benchmark_weights(session)
    # The demo user's own portfolio (soft-deleted, even), and a figure of a demo portfolio.
    own = await make_portfolio(session, "Demo user's scratch book")
    own.owner_id, own.deleted_at = owner.user.id, func.now()
    session.add(PortfolioSnapshot(portfolio_id=demo.portfolio_ids[0][1], calculation_date=DEMO_END))
    # Someone else's data, of other sources: it all stays.
    someone = await make_user(session, "someone@example.com")
    theirs = await make_portfolio(session, "Theirs", owner=someone)
    await make_position(session, theirs, "IBM")
    await upsert_prices(session, [PriceRow("IBM", DEMO_END, Decimal("250"), Decimal("250"))], "FMP")
    await upsert_profiles(session, [ProfileRow("IBM", "Information Technology")], "FMP")
    session.add(
        BenchmarkSectorWeight(
            benchmark_code="SP500",
            asof_date=date(2025, 9, 30),
            sector="Energy",
            weight=Decimal(1),
            data_source="FMP",
        )
    )
    await session.flush()

    removed = await remove_demo_data(session)

    assert (removed.prices, removed.profiles) == (demo.prices, len(demo_symbols()))
    assert removed.benchmark_weights == 11
    assert [p.name for p in removed.portfolios] == sorted(
        [name for name, _ in demo.portfolio_ids] + ["Demo user's scratch book"]
    )
    assert sum(p.positions for p in removed.portfolios) == demo.positions
    assert removed.user == DEMO_EMAIL
    assert await _count(session, DailyPrice) == 1
    assert await _count(session, SecurityProfile) == 1
    assert await _count(session, BenchmarkSectorWeight) == 1
    assert await _count(session, Portfolio) == 1  # theirs
    assert await _count(session, Position) == 1
    assert await _count(session, PortfolioSnapshot) == 0
    assert await _count(session, User, User.id == owner.user.id) == 0
    assert await _count(session, User, User.id == someone.id) == 1

    again = await remove_demo_data(session)
    assert again.nothing


async def test_remove_takes_the_demos_portfolios_given_to_another_user_too(
    session: AsyncSession,
) -> None:
    demo = await load_demo_data(session, owner_id=None)
    someone = await make_user(session, "someone@example.com")
    first_id: uuid.UUID = demo.portfolio_ids[0][1]
    portfolio = await session.get(Portfolio, first_id)
    assert portfolio is not None
    portfolio.owner_id = someone.id
    await session.flush()
    removed = await remove_demo_data(session)
    assert len(removed.portfolios) == 3 and removed.user is None
    assert await _count(session, Portfolio) == 0
    assert await _count(session, User) == 1
