"""The refresh's figures stage (app.refresh.figures): which portfolios are due and from
which day, planned together in as many statements whatever their number, each told to the
``planned`` callback and run, a portfolio deleted meanwhile skipped, the marks covered
cleared."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.prices.demo import demo_calendar
from app.refresh.figures import (
    DuePortfolio,
    FiguresOutcome,
    bring_figures_current,
    due_portfolios,
)
from app.risk_metrics.runs import plan_ranges
from devtools.databases import TestDatabase
from tests.support.factories import store_random_walks
from tests.support.statements import recorded_statements

pytestmark = pytest.mark.usefixtures("clean_tables")

CALENDAR = demo_calendar(date(2025, 10, 17), 40)
LAST = CALENDAR[-1]


async def _sql(engine: AsyncEngine, statement: str, **params: object) -> list[tuple[object, ...]]:
    async with engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return [tuple(r) for r in result] if result.returns_rows else []


@pytest.fixture
async def priced(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await store_random_walks(session, CALENDAR, ("SPY", "AAA", "BBB", "CCC"), seed=3)


async def _portfolio(engine: AsyncEngine, name: str, symbol: str, entry: date) -> uuid.UUID:
    portfolio_id = uuid.uuid4()
    await _sql(
        engine,
        "INSERT INTO portfolios (id, name, equity_balance) VALUES (:id, :name, 100000)",
        id=portfolio_id,
        name=name,
    )
    await _sql(
        engine,
        "INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price,"
        " entry_date) VALUES (:p, :s, 'LONG', 100, 50, :entry)",
        p=portfolio_id,
        s=symbol,
        entry=entry,
    )
    return portfolio_id


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement run through ``engine`` while the test does."""
    with recorded_statements(engine) as seen:
        yield seen


async def _plan(engine: AsyncEngine) -> int:
    """Plan the figures stage as bring_figures_current does; the number of plans."""
    through, due = await due_portfolios(engine)
    assert through == LAST
    starts = [(d.portfolio_id, d.name, d.start) for d in due]
    return len(await plan_ranges(engine, starts, through))


@pytest.mark.usefixtures("priced")
async def test_planning_takes_as_many_statements_for_six_portfolios_as_for_two(
    engine: AsyncEngine, statements: list[str]
) -> None:
    symbols = ("AAA", "BBB", "CCC")
    for n in range(2):
        await _portfolio(engine, f"P{n}", symbols[n], CALENDAR[n])
    statements.clear()
    assert await _plan(engine) == 2
    for_two = list(statements)

    for n in range(2, 6):
        await _portfolio(engine, f"P{n}", symbols[n % 3], CALENDAR[n])
    statements.clear()
    assert await _plan(engine) == 6

    assert len(statements) == len(for_two), statements
    assert len(for_two) <= 8, for_two


@pytest.mark.usefixtures("priced")
async def test_each_due_portfolio_runs_from_its_own_day_and_covered_marks_are_cleared(
    engine: AsyncEngine,
) -> None:
    new = await _portfolio(engine, "New", "AAA", CALENDAR[-5])
    marked = await _portfolio(engine, "Marked", "BBB", CALENDAR[0])
    current = await _portfolio(engine, "Current", "CCC", CALENDAR[0])
    empty = uuid.uuid4()
    await _sql(engine, "INSERT INTO portfolios (id, name) VALUES (:id, 'Empty')", id=empty)
    # Marked and Current have figures through CALENDAR[-3] and LAST (one row stands for
    # them: the latest snapshot date is what counts); Marked is stale from CALENDAR[-6].
    for portfolio_id, day in ((marked, CALENDAR[-3]), (current, LAST)):
        await _sql(
            engine,
            "INSERT INTO portfolio_snapshots (portfolio_id, calculation_date) VALUES (:p, :d)",
            p=portfolio_id,
            d=day,
        )
    await _sql(
        engine, "UPDATE portfolios SET stale_from = :d WHERE id = :p", d=CALENDAR[-6], p=marked
    )

    through, due = await due_portfolios(engine)
    assert through == LAST
    assert due == [
        DuePortfolio(marked, "Marked", CALENDAR[-6]),
        DuePortfolio(new, "New", CALENDAR[-5]),
    ]

    told: list[tuple[str, int]] = []
    outcome = FiguresOutcome()
    await bring_figures_current(
        engine, outcome, beta_window=20, planned=lambda due, days: told.append((due.name, days))
    )
    assert told == [("Marked", 6), ("New", 5)]
    assert outcome.run.failures == [] and not outcome.run.interrupted
    assert (outcome.marks_cleared, outcome.marks_kept) == (1, 0)
    stored = await _sql(
        engine,
        "SELECT p.name, min(s.calculation_date), max(s.calculation_date), count(*)"
        " FROM portfolio_snapshots s JOIN portfolios p ON p.id = s.portfolio_id"
        " GROUP BY p.name ORDER BY 1",
    )
    assert stored == [
        ("Current", LAST, LAST, 1),  # untouched
        ("Marked", CALENDAR[-6], LAST, 6),
        ("New", CALENDAR[-5], LAST, 5),
    ]
    assert await _sql(engine, "SELECT count(*) FROM portfolios WHERE stale_from IS NOT NULL") == [
        (0,)
    ]


@pytest.mark.usefixtures("priced")
async def test_a_portfolio_deleted_while_another_runs_is_skipped(
    engine: AsyncEngine, database: TestDatabase
) -> None:
    first = await _portfolio(engine, "A first", "AAA", CALENDAR[-4])
    deleted = await _portfolio(engine, "B deleted", "BBB", CALENDAR[-4])
    later = await _portfolio(engine, "C later", "CCC", CALENDAR[-4])
    told: list[str] = []

    def planned(due: DuePortfolio, days: int) -> None:
        told.append(due.name)
        if due.portfolio_id == first:  # planned with the others, deleted before its run
            sync = create_engine(database.sync_url)
            try:
                with sync.begin() as conn:
                    conn.execute(
                        text("UPDATE portfolios SET deleted_at = now() WHERE id = :p"),
                        {"p": deleted},
                    )
            finally:
                sync.dispose()

    outcome = FiguresOutcome()
    await bring_figures_current(engine, outcome, beta_window=20, planned=planned)

    assert [d.portfolio_id for d in outcome.due] == [first, deleted, later]
    assert told == ["A first", "B deleted", "C later"]
    assert outcome.run.failures == [] and not outcome.run.interrupted
    stored = await _sql(
        engine,
        "SELECT p.name, count(*) FROM portfolio_snapshots s"
        " JOIN portfolios p ON p.id = s.portfolio_id GROUP BY p.name ORDER BY 1",
    )
    assert stored == [("A first", 4), ("C later", 4)]
