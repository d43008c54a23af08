"""Range runs of many portfolios from days of their own (runs.plan_ranges, the daily
refresh's planner): each gets its own trading days and the marks it covers, all share one
price history, and a portfolio's stored figures are the same whether it is planned with
others (the shared history then starts earlier than its own would) or alone."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.prices.demo import demo_calendar
from app.prices.repository import PriceRow, upsert_prices
from app.risk_metrics.calculation import HISTORY_DAYS
from app.risk_metrics.runs import (
    DateAfterLastPriceError,
    RunPlan,
    RunResult,
    plan_ranges,
    run_plan,
)

pytestmark = pytest.mark.usefixtures("clean_tables")


async def _sql(engine: AsyncEngine, statement: str, **params: object) -> list[tuple[object, ...]]:
    async with engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return [tuple(r) for r in result] if result.returns_rows else []


async def _prices(engine: AsyncEngine, calendar: list[date], stops: dict[str, int]) -> None:
    """SPY and AAA..DDD on ``calendar``; a symbol in ``stops`` has no price from that index."""
    rng = np.random.default_rng(5)
    market = rng.normal(0.0004, 0.01, len(calendar))
    closes = {"SPY": 400 * np.cumprod(1 + market)}
    for n, symbol in enumerate(("AAA", "BBB", "CCC", "DDD")):
        noise = rng.normal(0, 0.012, len(calendar))
        closes[symbol] = 50 * np.cumprod(1 + (0.5 + n / 3) * market + noise)
    async with AsyncSession(engine) as session, session.begin():
        await upsert_prices(
            session,
            [
                PriceRow(symbol, day, Decimal(f"{close:.4f}"), Decimal(f"{close:.4f}"))
                for symbol, series in closes.items()
                for day, close in list(zip(calendar, series.tolist(), strict=True))[
                    : stops.get(symbol)
                ]
            ],
            "CSV",
        )


async def _portfolio(
    engine: AsyncEngine, name: str, held: list[tuple[str, date, date | None]]
) -> uuid.UUID:
    """A portfolio holding each (symbol, entry date, exit date) of ``held``."""
    portfolio_id = uuid.uuid4()
    await _sql(
        engine,
        "INSERT INTO portfolios (id, name, equity_balance) VALUES (:id, :name, 1000000)",
        id=portfolio_id,
        name=name,
    )
    for n, (symbol, entry, exit_date) in enumerate(held):
        await _sql(
            engine,
            "INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price,"
            " entry_date, exit_date, exit_price)"
            " VALUES (:p, :s, 'LONG', :q, 50, :entry, :exit, :exit_price)",
            p=portfolio_id,
            s=symbol,
            q=100 + 10 * n,
            entry=entry,
            exit=exit_date,
            exit_price=None if exit_date is None else 55,
        )
    return portfolio_id


CALENDAR = demo_calendar(date(2025, 10, 17), 30)
LAST = CALENDAR[-1]


async def test_each_portfolio_gets_its_own_days_and_marks_and_they_share_one_history(
    engine: AsyncEngine,
) -> None:
    await _prices(engine, CALENDAR, {})
    early = await _portfolio(engine, "Early", [("AAA", CALENDAR[0], None)])
    late = await _portfolio(engine, "Late", [("BBB", CALENDAR[0], None)])
    weekend = await _portfolio(engine, "Weekend", [("CCC", CALENDAR[0], None)])
    # Early's mark is covered by its run from CALENDAR[-10]; Late's is before its run.
    await _sql(
        engine,
        "UPDATE portfolios SET stale_from = CASE id WHEN :early THEN CAST(:a AS date)"
        " WHEN :late THEN CAST(:b AS date) END WHERE id IN (:early, :late)",
        early=early,
        late=late,
        a=CALENDAR[-8],
        b=CALENDAR[-6],
    )
    plans = await plan_ranges(
        engine, [(early, "Early", CALENDAR[-10]), (late, "Late", CALENDAR[-3])], LAST
    )

    assert [(p.portfolios, p.dates) for p in plans] == [
        ([(early, "Early")], CALENDAR[-10:]),
        ([(late, "Late")], CALENDAR[-3:]),
    ]
    assert plans[0].history is plans[1].history
    assert set(plans[0].history.symbols) >= {"AAA", "BBB"}
    assert [m.portfolio_id for m in plans[0].marks] == [early] and plans[1].marks == []

    # A weekend has no trading day: a portfolio starting on it, run to its Sunday, has no
    # plan.
    friday = next(day for day in reversed(CALENDAR[:-1]) if day.weekday() == 4)
    saturday, sunday = friday + timedelta(days=1), friday + timedelta(days=2)
    to_sunday = await plan_ranges(
        engine, [(early, "Early", CALENDAR[0]), (weekend, "Weekend", saturday)], sunday
    )
    assert [(p.portfolios, p.dates[-1]) for p in to_sunday] == [([(early, "Early")], friday)]

    # A run that stops before the last price clears no mark.
    before_last = await plan_ranges(engine, [(early, "Early", CALENDAR[-10])], CALENDAR[-2])
    assert before_last[0].dates == CALENDAR[-10:-1] and before_last[0].marks == []
    with pytest.raises(DateAfterLastPriceError):
        await plan_ranges(engine, [(early, "Early", LAST)], LAST + timedelta(days=1))
    assert await plan_ranges(engine, [], LAST) == []


# --- the same figures, planned together or alone --------------------------------------

LONG = demo_calendar(date(2025, 10, 17), HISTORY_DAYS + 30)
EARLY_START = LONG[HISTORY_DAYS - 10]  # its own history starts at LONG[0]
LATE_START = LONG[HISTORY_DAYS + 20]  # its own history starts at LONG[20]

# Every stored figure but ids and timestamps, as text (NUMERIC prints its full scale).
_DUMP = """
SELECT 'b', (to_jsonb(t) - 'id' - 'created_at' - 'updated_at')::text FROM position_market_betas t
UNION ALL
SELECT 'v', (to_jsonb(t) - 'id' - 'created_at' - 'updated_at')::text FROM position_volatility t
UNION ALL
SELECT 's', (to_jsonb(t) - 'id' - 'created_at' - 'updated_at')::text FROM portfolio_snapshots t
UNION ALL
SELECT 'pf', (to_jsonb(t) - 'id' - 'created_at' - 'updated_at')::text
FROM position_factor_exposures t
UNION ALL
SELECT 'f', (to_jsonb(t) - 'id' - 'created_at' - 'updated_at')::text
FROM portfolio_factor_exposures t
ORDER BY 1, 2
"""


async def _run(engine: AsyncEngine, plans: list[RunPlan]) -> None:
    result = RunResult()
    for plan in plans:
        await run_plan(engine, plan, result, beta_window=60)
    assert result.failures == [] and not result.interrupted


async def test_a_portfolio_stores_the_same_figures_planned_with_an_earlier_one_or_alone(
    engine: AsyncEngine,
) -> None:
    # Late's book reaches back into the rows that only the shared history holds: AAA held
    # and sold there, CCC whose last price is there (left out of every date, stale), and
    # BBB held throughout.
    await _prices(engine, LONG, {"CCC": 10})
    early = await _portfolio(engine, "Early", [("BBB", LONG[0], None), ("DDD", LONG[5], None)])
    late = await _portfolio(
        engine,
        "Late",
        [("AAA", LONG[2], LONG[12]), ("BBB", LONG[3], None), ("CCC", LONG[4], None)],
    )
    starts = [(early, "Early", EARLY_START), (late, "Late", LATE_START)]

    together = await plan_ranges(engine, starts, LONG[-1])
    await _run(engine, together)
    stored_together = await _sql(engine, _DUMP)

    await _sql(
        engine,
        "TRUNCATE position_market_betas, position_volatility, portfolio_snapshots,"
        " position_factor_exposures, portfolio_factor_exposures",
    )
    alone = [(await plan_ranges(engine, [start], LONG[-1]))[0] for start in starts]
    await _run(engine, alone)

    # The case the test is for: Late's own history starts later than the shared one.
    assert together[1].history.dates[0] == LONG[0] < alone[1].history.dates[0] == LONG[20]
    assert await _sql(engine, _DUMP) == stored_together
    # What was compared: every date of both; Late's figures with CCC left out (and no
    # direct beta: its book as held lacks CCC's closes).
    snapshots = await _sql(
        engine,
        "SELECT p.name, count(*), count(s.market_beta_direct),"
        ' bool_and(coalesce(s.excluded_positions @> \'[{"symbol": "CCC"}]\', false))'
        " FROM portfolio_snapshots s JOIN portfolios p ON p.id = s.portfolio_id"
        " GROUP BY p.name ORDER BY 1",
    )
    assert snapshots == [("Early", 40, 40, False), ("Late", 10, 0, True)]


async def test_a_symbol_added_after_planning_is_priced_not_a_crash(engine: AsyncEngine) -> None:
    """The plans' history holds the symbols held when they were made; a position of a new
    symbol added while earlier portfolios run gets its prices loaded when its turn comes."""
    await _prices(engine, LONG, {})
    first = await _portfolio(engine, "First", [("AAA", LONG[0], None)])
    later = await _portfolio(engine, "Later", [("BBB", LONG[0], None)])
    start = LONG[-5]
    plans = await plan_ranges(engine, [(first, "First", start), (later, "Later", start)], LONG[-1])
    assert "DDD" not in plans[1].history.symbols
    result = RunResult()
    await run_plan(engine, plans[0], result, beta_window=60)
    await _sql(
        engine,
        "INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price,"
        " entry_date) VALUES (:p, 'DDD', 'LONG', 40, 50, :entry)",
        p=later,
        entry=LONG[0],
    )
    await run_plan(engine, plans[1], result, beta_window=60)
    assert result.failures == []
    betas = await _sql(
        engine,
        "SELECT p.symbol, count(b.beta) FROM position_market_betas b"
        " JOIN positions p ON p.id = b.position_id GROUP BY p.symbol ORDER BY p.symbol",
    )
    assert betas == [("AAA", 5), ("BBB", 5), ("DDD", 5)]
