"""calculate_risk_metrics.py --stale: exactly the portfolio-dates a change of a book made out
of date are recomputed, and a mark is cleared only if the book did not change meanwhile."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
import pytest_asyncio
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Portfolio, PortfolioSnapshot
from app.portfolios import book
from app.portfolios.repository import stale_marks
from app.portfolios.rules import PortfolioIn, PositionIn, book_context
from app.prices.demo import demo_calendar
from app.prices.repository import PriceRow, upsert_prices
from app.risk_metrics.runs import RunResult, plan_stale, run_stale
from devtools.databases import TestDatabase
from tests.support.cli import run_script, script_env
from tests.support.factories import make_user

pytestmark = pytest.mark.usefixtures("clean_tables")

CALENDAR = demo_calendar(date(2025, 10, 17), 40)
LAST = CALENDAR[-1]


@pytest_asyncio.fixture(loop_scope="session")
async def marked(engine: AsyncEngine) -> AsyncIterator[tuple[uuid.UUID, uuid.UUID]]:
    """Prices of SPY and AAA; two portfolios of one owner, one holding AAA since the start
    of the calendar and marked stale from CALENDAR[-5] (its figures of earlier dates stored
    and current), the other current."""
    rng = np.random.default_rng(11)
    closes = {s: 100 * np.cumprod(1 + rng.normal(0, 0.01, len(CALENDAR))) for s in ("SPY", "AAA")}
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        await upsert_prices(
            session,
            [
                PriceRow(symbol, day, Decimal(f"{close:.4f}"), Decimal(f"{close:.4f}"))
                for symbol, series in closes.items()
                for day, close in zip(CALENDAR, series.tolist(), strict=True)
            ],
            "CSV",
        )
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
