"""Runs over many portfolio-dates: which ones (every live portfolio or one, the market's
trading days, never past the last market price) and running them one date or a range."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.factors.definitions import factor_symbols
from app.models import PortfolioSnapshot
from app.portfolios.repository import PortfolioNotFoundError
from app.portfolios.store import PortfolioFields, PositionFields, put_portfolio, put_positions
from app.prices.demo import demo_calendar
from app.prices.repository import MissingMarketDataError
from app.risk_metrics.runs import (
    DateAfterLastPriceError,
    NothingToRunError,
    RunResult,
    plan_run,
    refuse_dates_after_last_price,
    run_plan,
)
from tests.support.factories import store_random_walks

pytestmark = pytest.mark.usefixtures("clean_tables")

CALENDAR = demo_calendar(date(2025, 10, 17), 30)  # weekdays: the market's trading days
LAST = CALENDAR[-1]


@pytest.mark.parametrize(
    ("start", "end", "names", "refused"),
    [
        (date(2025, 10, 20), date(2025, 10, 20), ("--date", "--date"), "--date 2025-10-20"),
        (date(2025, 10, 1), date(2025, 10, 21), ("--from", "--to"), "--to 2025-10-21"),
        (date(2025, 10, 20), date(2025, 10, 21), ("--from", "--to"), "--from 2025-10-20"),
        (date(2025, 10, 1), LAST, ("--from", "--to"), None),
    ],
)
def test_no_date_after_the_last_market_price_and_the_message_names_the_end_asked(
    start: date, end: date, names: tuple[str, str], refused: str | None
) -> None:
    if refused is None:
        refuse_dates_after_last_price(LAST, start, end, names=names)
        refuse_dates_after_last_price(None, start, end, names=names)  # no price: not this rule
        return
    with pytest.raises(DateAfterLastPriceError) as raised:
        refuse_dates_after_last_price(LAST, start, end, names=names)
    assert str(raised.value) == (
        f"{refused} is after the last SPY price ({LAST}): load its prices first; nothing written"
    )


@dataclass(frozen=True)
class Book:
    held: uuid.UUID
    empty: uuid.UUID


@pytest_asyncio.fixture(loop_scope="session")
async def book(engine: AsyncEngine) -> AsyncIterator[Book]:
    """SPY and AAA priced on CALENDAR; a portfolio holding AAA and an empty one."""
    held, empty = uuid.uuid4(), uuid.uuid4()
    async with AsyncSession(engine) as session, session.begin():
        await store_random_walks(session, CALENDAR, ("SPY", "AAA"), seed=7)
        await put_portfolio(session, held, PortfolioFields(name="Held", equity_balance=None))
        await put_portfolio(session, empty, PortfolioFields(name="Empty"))
        await put_positions(
            session,
            held,
            {
                uuid.uuid4(): PositionFields(
                    symbol="AAA",
                    position_type="LONG",
                    quantity=Decimal(10),
                    entry_price=Decimal(100),
                    entry_date=CALENDAR[0],
                )
            },
        )
    yield Book(held, empty)


async def test_a_plan_covers_every_live_portfolio_on_the_trading_days_or_one_portfolio(
    engine: AsyncEngine, book: Book
) -> None:
    every = await plan_run(engine, date(2025, 10, 11), LAST, single=False)
    assert every.portfolios == [(book.empty, "Empty"), (book.held, "Held")]
    assert every.dates == CALENDAR[-5:]  # the weekend is no trading day
    # The held series and the factors' ETFs (app/factors/factors.toml).
    assert every.history.symbols == sorted({"AAA", *factor_symbols()})
    one = await plan_run(
        engine, date(2025, 10, 11), date(2025, 10, 11), single=True, only=book.held
    )
    assert one.portfolios == [(book.held, "Held")]
    assert one.dates == [date(2025, 10, 11)]  # a single date as asked


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("unknown portfolio", PortfolioNotFoundError),
        ("after the last price", DateAfterLastPriceError),
        ("no trading day", NothingToRunError),
        ("no prices yet", MissingMarketDataError),
    ],
)
async def test_a_plan_that_cannot_run_is_refused(
    engine: AsyncEngine, book: Book, case: str, error: type[Exception]
) -> None:
    start, end, only = date(2025, 10, 1), LAST, None
    if case == "unknown portfolio":
        only = uuid.uuid4()
    elif case == "after the last price":
        end = date(2025, 10, 20)
    elif case == "no trading day":
        start, end = date(2025, 10, 11), date(2025, 10, 12)
    else:  # a single date is run as asked, and no market price precedes this one
        start = end = date(2020, 1, 1)
    with pytest.raises(error):
        await plan_run(engine, start, end, single=case == "no prices yet", only=only)


async def test_no_portfolio_is_nothing_to_run(engine: AsyncEngine) -> None:
    with pytest.raises(NothingToRunError, match="no portfolios"):
        await plan_run(engine, LAST, LAST, single=True)


async def _snapshots(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as session:
        return int(await session.scalar(select(func.count()).select_from(PortfolioSnapshot)) or 0)


async def test_a_single_date_stores_each_portfolio_and_records_what_it_could_not(
    engine: AsyncEngine, book: Book
) -> None:
    steps: list[tuple[str, date | None, int]] = []
    for day in (CALENDAR[0], LAST):  # the first has one market price: no return yet
        plan = await plan_run(engine, day, day, single=True)
        result = RunResult()
        await run_plan(engine, plan, result, beta_window=20, progress=lambda *s: steps.append(s))
        if day == LAST:
            assert [(s.portfolio_name, s.calc_date) for s in result.summaries] == [
                ("Empty", LAST),
                ("Held", LAST),
            ]
            assert result.failures == []
        else:
            assert result.summaries == []
            assert [(name, d) for name, d, _ in result.failures] == [
                ("Empty", day),
                ("Held", day),
            ]
    assert sum(settled for *_, settled in steps) == 4
    assert await _snapshots(engine) == 2


async def test_a_range_stores_every_portfolio_date_and_reports_each_chunk(
    engine: AsyncEngine, book: Book
) -> None:
    plan = await plan_run(engine, CALENDAR[-10], LAST, single=False)
    result = RunResult()
    steps: list[tuple[str, date | None, int]] = []
    await run_plan(
        engine,
        plan,
        result,
        beta_window=20,
        chunk_dates=3,
        progress=lambda *s: steps.append(s),
    )
    assert not result.interrupted and result.failures == []
    assert len(result.summaries) == 2 * 10
    assert sum(settled for *_, settled in steps) == 20 and all(d is None for _, d, _ in steps)
    assert await _snapshots(engine) == 20
