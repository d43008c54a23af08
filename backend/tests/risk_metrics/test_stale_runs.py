"""calculate_risk_metrics.py --stale: exactly the portfolio-dates a change of a book made out
of date are recomputed, and a mark is cleared only if the book did not change meanwhile; a
--from/--to run that covers a mark whole clears it the same way."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Portfolio, PortfolioSnapshot
from app.portfolios import book
from app.portfolios.repository import StaleMark, stale_marks
from app.portfolios.rules import PortfolioIn, PositionIn, book_context
from app.prices.demo import demo_calendar
from app.risk_metrics.runs import (
    RunResult,
    clear_covered_marks,
    covers_mark,
    plan_run,
    plan_stale,
    run_plan,
    run_stale,
)
from devtools.databases import TestDatabase
from tests.support.cli import run_script, script_env
from tests.support.factories import make_user, store_random_walks

pytestmark = pytest.mark.usefixtures("clean_tables")

CALENDAR = demo_calendar(date(2025, 10, 17), 40)
LAST = CALENDAR[-1]


@pytest_asyncio.fixture(loop_scope="session")
async def marked(engine: AsyncEngine) -> AsyncIterator[tuple[uuid.UUID, uuid.UUID]]:
    """Prices of SPY and AAA; two portfolios of one owner, one holding AAA since the start
    of the calendar and marked stale from CALENDAR[-5] (its figures of earlier dates stored
    and current), the other current."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        await store_random_walks(session, CALENDAR, ("SPY", "AAA"), seed=11)
        owner = await make_user(session, "owner@example.com")
        ids = []
        for name in ("Changed", "Current"):
            made = await book.create_portfolio(session, owner.id, PortfolioIn(name=name))
            ids.append(made.portfolio.id)
            position = PositionIn.model_validate(
                {"symbol": "AAA", "quantity": 10, "entry_price": 100, "entry_date": CALENDAR[0]},
                context=book_context(),
            )
            await book.add_position(session, made.portfolio.id, position, owner=owner.id)
        await session.execute(
            update(Portfolio).where(Portfolio.id == ids[0]).values(stale_from=CALENDAR[-5])
        )
        await session.execute(
            update(Portfolio).where(Portfolio.id == ids[1]).values(stale_from=None)
        )
    yield ids[0], ids[1]


async def _snapshot_dates(engine: AsyncEngine, portfolio_id: uuid.UUID) -> list[date]:
    async with AsyncSession(engine) as session:
        rows = await session.scalars(
            select(PortfolioSnapshot.calculation_date)
            .where(PortfolioSnapshot.portfolio_id == portfolio_id)
            .order_by(PortfolioSnapshot.calculation_date)
        )
        return list(rows)


async def test_only_the_marked_dates_are_recomputed_and_the_mark_is_cleared(
    engine: AsyncEngine, marked: tuple[uuid.UUID, uuid.UUID]
) -> None:
    changed, current = marked
    plan = await plan_stale(engine)
    assert [(m.portfolio_id, days) for m, days in plan.marks] == [(changed, CALENDAR[-5:])]
    result = RunResult()
    outcome = await run_stale(engine, plan, result, beta_window=20)
    assert result.failures == []
    assert sorted({s.calc_date for s in result.summaries}) == CALENDAR[-5:]
    assert [m.portfolio_id for m in outcome.cleared] == [changed] and outcome.kept == []
    assert await _snapshot_dates(engine, changed) == CALENDAR[-5:]
    assert await _snapshot_dates(engine, current) == []
    async with AsyncSession(engine) as session:
        assert await stale_marks(session) == []
    assert (await plan_stale(engine)).marks == []


async def test_a_change_made_while_the_run_computes_keeps_its_mark(
    engine: AsyncEngine, marked: tuple[uuid.UUID, uuid.UUID]
) -> None:
    changed, _ = marked
    plan = await plan_stale(engine)
    async with engine.begin() as conn:
        # A position added after the run read the mark, touching a later date: the date of
        # the mark stays, the row moves.
        await conn.execute(
            text("UPDATE portfolios SET stale_from = least(stale_from, :d) WHERE id = :id"),
            {"d": LAST, "id": changed},
        )
    outcome = await run_stale(engine, plan, RunResult(), beta_window=20)
    assert [m.portfolio_id for m in outcome.kept] == [changed]
    async with AsyncSession(engine) as session:
        assert [m.stale_from for m in await stale_marks(session)] == [CALENDAR[-5]]


async def test_a_mark_after_the_last_price_has_nothing_to_recompute_and_is_cleared(
    engine: AsyncEngine, marked: tuple[uuid.UUID, uuid.UUID]
) -> None:
    changed, _ = marked
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE portfolios SET stale_from = '2025-12-01' WHERE id = :id"), {"id": changed}
        )
    plan = await plan_stale(engine)
    assert [days for _, days in plan.marks] == [[]]
    outcome = await run_stale(engine, plan, RunResult(), beta_window=20)
    assert [m.portfolio_id for m in outcome.cleared] == [changed]


def test_the_cli_runs_stale_and_says_what_it_cleared(
    database: TestDatabase, marked: tuple[uuid.UUID, uuid.UUID]
) -> None:
    env = script_env(database.env_url)
    refused = run_script("calculate_risk_metrics", "--stale", "--date", "2025-10-17", env=env)
    assert refused.code == 2
    result = run_script(
        "calculate_risk_metrics", "--stale", "--window-days", "30", "--json", env=env
    )
    assert result.code == 0, result.output
    payload = json.loads(result.stdout)
    assert [p["dates"] for p in payload["portfolios"]] == [5]
    assert [m["portfolio_name"] for m in payload["stale"]["cleared"]] == ["Changed"]
    again = run_script("calculate_risk_metrics", "--stale", env=env)
    assert again.code == 0
    assert "no stale marks" in again.stdout


# --- a --from/--to run that covers a mark ---------------------------------------------


def test_a_range_covers_a_mark_when_no_trading_day_of_it_comes_before_the_range() -> None:
    history = [date(2025, 10, d) for d in (6, 7, 8, 9, 10, 13, 14)]  # Mon 6 .. Tue 14
    dates = history[-2:]  # the range: Mon 13, Tue 14 (the last price)

    def mark(day: date) -> StaleMark:
        return StaleMark(uuid.uuid4(), "Book", day, datetime(2025, 10, 1))

    assert covers_mark(history, dates, mark(date(2025, 10, 11)))  # a Saturday: none missed
    assert covers_mark(history, dates, mark(date(2025, 10, 14)))
    assert covers_mark(history, dates, mark(date(2025, 12, 1)))  # after the last price
    assert not covers_mark(history, dates, mark(date(2025, 10, 10)))  # Friday is not run
    assert not covers_mark(history, dates, mark(date(2025, 9, 1)))
    # No price before the range: no trading day can come before it.
    assert covers_mark(dates, dates, mark(date(2025, 9, 1)))


async def test_a_range_from_the_mark_through_the_last_price_clears_it(
    engine: AsyncEngine, marked: tuple[uuid.UUID, uuid.UUID]
) -> None:
    changed, current = marked
    # Starting a day late, or ending a day early, leaves a marked date out: no clearing.
    assert (await plan_run(engine, CALENDAR[-4], LAST, single=False)).marks == []
    assert (await plan_run(engine, CALENDAR[-5], CALENDAR[-2], single=False)).marks == []

    plan = await plan_run(engine, CALENDAR[-5], LAST, single=False)
    assert [m.portfolio_id for m in plan.marks] == [changed]
    result = RunResult()
    await run_plan(engine, plan, result, beta_window=20)
    outcome = await clear_covered_marks(engine, plan, result)
    assert result.failures == []
    assert [m.portfolio_id for m in outcome.cleared] == [changed] and outcome.kept == []
    assert await _snapshot_dates(engine, current) == CALENDAR[-5:]  # run, never marked
    async with AsyncSession(engine) as session:
        assert await stale_marks(session) == []


async def test_a_change_made_while_a_covering_range_runs_keeps_its_mark(
    engine: AsyncEngine, marked: tuple[uuid.UUID, uuid.UUID]
) -> None:
    changed, _ = marked
    plan = await plan_run(engine, CALENDAR[0], LAST, single=False, only=changed)
    assert [m.portfolio_id for m in plan.marks] == [changed]
    result = RunResult()
    await run_plan(engine, plan, result, beta_window=20)
    async with engine.begin() as conn:  # the book changes on a date the run computed
        await conn.execute(
            text("UPDATE portfolios SET stale_from = least(stale_from, :d) WHERE id = :id"),
            {"d": LAST - timedelta(days=1), "id": changed},
        )
    outcome = await clear_covered_marks(engine, plan, result)
    assert [m.portfolio_id for m in outcome.kept] == [changed] and outcome.cleared == []
    async with AsyncSession(engine) as session:
        assert [m.stale_from for m in await stale_marks(session)] == [CALENDAR[-5]]


async def test_a_covered_mark_of_a_portfolio_with_a_failed_date_is_kept(
    engine: AsyncEngine, marked: tuple[uuid.UUID, uuid.UUID]
) -> None:
    changed, _ = marked
    plan = await plan_run(engine, CALENDAR[-5], LAST, single=False)
    failed = RunResult(failed_portfolios={changed})
    outcome = await clear_covered_marks(engine, plan, failed)
    assert [m.portfolio_id for m in outcome.kept] == [changed] and outcome.cleared == []
    interrupted = await clear_covered_marks(engine, plan, RunResult(interrupted=True))
    assert (interrupted.cleared, interrupted.kept) == ([], [])
    async with AsyncSession(engine) as session:
        assert [m.portfolio_id for m in await stale_marks(session)] == [changed]


def test_the_cli_range_run_says_which_marks_it_cleared(
    database: TestDatabase, marked: tuple[uuid.UUID, uuid.UUID]
) -> None:
    env = script_env(database.env_url)
    start, window = ["--from", CALENDAR[-5].isoformat()], ["--window-days", "30"]
    short = run_script(
        "calculate_risk_metrics", *start, "--to", CALENDAR[-2].isoformat(), *window, env=env
    )
    assert short.code == 0, short.output
    assert "stale mark" not in short.stdout  # ends before the last price: the mark stays
    covering = [*start, "--to", LAST.isoformat(), *window]
    result = run_script("calculate_risk_metrics", *covering, env=env)
    assert result.code == 0, result.output
    assert f"Changed: figures from {CALENDAR[-5]} recomputed; stale mark cleared" in (result.stdout)
    again = run_script("calculate_risk_metrics", *covering, "--json", env=env)
    assert again.code == 0, again.output
    assert json.loads(again.stdout)["stale"] == {"cleared": [], "kept": []}
