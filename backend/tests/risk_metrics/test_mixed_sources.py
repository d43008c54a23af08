"""The engine never mixes price sources: a portfolio-date whose window of prices reads one
series (or the market index) from two sources is refused with the reason, nothing stored
for it, while the dates whose window reads one source, and the other books, compute."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import PortfolioSnapshot
from app.portfolios.store import PortfolioFields, PositionFields, put_portfolio, put_positions
from app.prices.demo import demo_calendar
from app.risk_metrics.calculation import HISTORY_DAYS
from app.risk_metrics.runs import RunResult, plan_run, run_plan
from tests.support.factories import store_random_walks

pytestmark = pytest.mark.usefixtures("clean_tables")

DEMO_DAYS = 40
"""The oldest days of AAA's prices are the demo's (rows stored before the rule)."""
CALENDAR = demo_calendar(date(2025, 10, 17), HISTORY_DAYS + DEMO_DAYS + 10)
LAST_MIXED = CALENDAR[HISTORY_DAYS + DEMO_DAYS - 1]
"""The last date whose window (HISTORY_DAYS + 1 trading days) still reaches a demo day."""
FIRST_CLEAN = CALENDAR[HISTORY_DAYS + DEMO_DAYS]


@dataclass(frozen=True)
class Books:
    holds_aaa: uuid.UUID
    holds_bbb: uuid.UUID


@pytest_asyncio.fixture(loop_scope="session")
async def books(engine: AsyncEngine) -> AsyncIterator[Books]:
    ids = Books(uuid.uuid4(), uuid.uuid4())
    async with AsyncSession(engine) as session, session.begin():
        await store_random_walks(session, CALENDAR, ("SPY", "AAA", "BBB"), seed=11, source="FMP")
        # What no load writes any more: a series of two sources (stored before the rule).
        await session.execute(
            text("UPDATE daily_prices SET source = 'DEMO' WHERE symbol = 'AAA' AND date <= :d"),
            {"d": CALENDAR[DEMO_DAYS - 1]},
        )
        for portfolio_id, symbol in ((ids.holds_aaa, "AAA"), (ids.holds_bbb, "BBB")):
            await put_portfolio(session, portfolio_id, PortfolioFields(name=f"Holds {symbol}"))
            await put_positions(
                session,
                portfolio_id,
                {
                    uuid.uuid4(): PositionFields(
                        symbol=symbol,
                        position_type="LONG",
                        quantity=Decimal(10),
                        entry_price=Decimal(100),
                        entry_date=CALENDAR[0],
                    )
                },
            )
    yield ids


async def _snapshot_dates(engine: AsyncEngine, portfolio_id: uuid.UUID) -> list[date]:
    async with AsyncSession(engine) as session:
        rows = await session.scalars(
            select(PortfolioSnapshot.calculation_date)
            .where(PortfolioSnapshot.portfolio_id == portfolio_id)
            .order_by(PortfolioSnapshot.calculation_date)
        )
        return list(rows)


async def test_a_range_refuses_each_date_whose_window_reads_two_sources(
    engine: AsyncEngine, books: Books
) -> None:
    dates = CALENDAR[HISTORY_DAYS + DEMO_DAYS - 3 : HISTORY_DAYS + DEMO_DAYS + 3]
    plan = await plan_run(engine, dates[0], dates[-1], single=False)
    result = RunResult()
    await run_plan(engine, plan, result, beta_window=20, chunk_dates=2)

    mixed = [d for d in dates if d <= LAST_MIXED]
    assert [(name, day) for name, day, _ in result.failures] == [("Holds AAA", d) for d in mixed]
    for _, day, reason in result.failures:
        window_start = CALENDAR[CALENDAR.index(day) - HISTORY_DAYS]
        assert reason == (
            f"prices read from {window_start} to {day} mix sources for AAA (DEMO "
            f"{window_start} .. {CALENDAR[DEMO_DAYS - 1]}, FMP {CALENDAR[DEMO_DAYS]} .. {day}): "
            "nothing computed. Keep one source per symbol: reload it with "
            "scripts/load_prices.py --replace-source, or take the demo out: "
            "scripts/demo_data.py --remove"
        )
    # Nothing stored for a refused date; the rest of both books computed.
    assert await _snapshot_dates(engine, books.holds_aaa) == [d for d in dates if d >= FIRST_CLEAN]
    assert await _snapshot_dates(engine, books.holds_bbb) == dates


async def test_a_single_date_is_refused_the_same_way(engine: AsyncEngine, books: Books) -> None:
    plan = await plan_run(engine, LAST_MIXED, LAST_MIXED, single=True)
    result = RunResult()
    await run_plan(engine, plan, result, beta_window=20)
    assert [(name, day) for name, day, _ in result.failures] == [("Holds AAA", LAST_MIXED)]
    assert "mix sources for AAA" in result.failures[0][2]
    assert [s.portfolio_name for s in result.summaries] == ["Holds BBB"]


async def test_a_market_index_of_two_sources_refuses_every_book_it_reaches(
    engine: AsyncEngine, books: Books
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE daily_prices SET source = 'CSV' WHERE symbol = 'SPY' AND date = :d"),
            {"d": CALENDAR[-1]},
        )
    plan = await plan_run(engine, CALENDAR[-2], CALENDAR[-1], single=False)
    result = RunResult()
    await run_plan(engine, plan, result, beta_window=20)
    refused = sorted((name, day) for name, day, _ in result.failures)
    assert refused == [("Holds AAA", CALENDAR[-1]), ("Holds BBB", CALENDAR[-1])]
    assert all("mix sources for SPY (FMP" in reason for *_, reason in result.failures)
    async with AsyncSession(engine) as session:
        stored = await session.scalar(
            select(func.count()).where(PortfolioSnapshot.calculation_date == CALENDAR[-1])
        )
    assert stored == 0


async def test_the_book_as_held_reading_two_sources_refuses_the_date(engine: AsyncEngine) -> None:
    """Today's book (BBB) reads one source, but the book as held each day held AAA within
    the as-held window (the last 252 trading days), whose oldest prices are the demo's: the
    date is refused; a date whose as-held window starts after them computes."""
    days = CALENDAR[:400]
    portfolio_id = uuid.uuid4()
    async with AsyncSession(engine) as session, session.begin():
        await store_random_walks(session, days, ("SPY", "AAA", "BBB"), seed=5, source="FMP")
        await session.execute(
            text("UPDATE daily_prices SET source = 'DEMO' WHERE symbol = 'AAA' AND date <= :d"),
            {"d": CALENDAR[DEMO_DAYS - 1]},
        )
        await put_portfolio(session, portfolio_id, PortfolioFields(name="Sold AAA"))
        lot = {"position_type": "LONG", "quantity": Decimal(10), "entry_price": Decimal(100)}
        await put_positions(
            session,
            portfolio_id,
            {
                uuid.uuid4(): PositionFields(symbol="BBB", entry_date=CALENDAR[0], **lot),
                uuid.uuid4(): PositionFields(symbol="AAA", entry_date=CALENDAR[0], **lot),
            },
        )
        await session.execute(  # sold: a close sets the exit date
            text("UPDATE positions SET exit_date = :d WHERE portfolio_id = :p AND symbol = 'AAA'"),
            {"d": CALENDAR[150], "p": portfolio_id},
        )
    refused, computed = CALENDAR[200], CALENDAR[300]  # as-held windows from rows 0 and 48
    for day in (refused, computed):
        plan = await plan_run(engine, day, day, single=True)
        result = RunResult()
        await run_plan(engine, plan, result, beta_window=20)
        if day == refused:
            ((name, failed_on, reason),) = result.failures
            assert (name, failed_on) == ("Sold AAA", refused)
            assert reason.startswith(
                f"prices read from {CALENDAR[0]} to {refused} mix sources for AAA"
            )
        else:
            assert result.failures == []
    assert await _snapshot_dates(engine, portfolio_id) == [computed]
