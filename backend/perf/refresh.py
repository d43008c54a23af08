"""The daily refresh of a 500-symbol book on the fake FMP: requests and seconds.

Runs app.refresh.service.refresh, as scripts/refresh.py does, against the fake FMP over
HTTP (devtools.fake_fmp) and a throwaway database migrated to head, holding one portfolio
of N stocks (each its own symbol, with quarterly dividends on a fifth of them) entered
``--book-days`` trading days before the first run:

* first load: an empty price table; every symbol's whole history, the profiles, the
  benchmark weights, then the book's figures for every trading day since its entry;
* daily run: the next trading day (one request per symbol plus a handful);
* no new day: the same day again (a weekend, a second run): one request;
* baseline: the next trading day again with FMP's two calendars refused (402), so the
  splits and dividends are asked symbol by symbol, as a plan without the calendars or a
  per-symbol loader does.

The ratio baseline / daily run of requests and of seconds is printed. The fake server is
Python on this machine: its seconds include building FMP's JSON, which FMP's servers do
elsewhere, and no network latency; the request counts are FMP's.

With ``--portfolios N`` it then measures the figures stage alone
(app.refresh.figures.bring_figures_current) over N portfolios of ``--portfolio-symbols``
stocks each, entered on five different days, with one trading day due: as the refresh
plans them (together: app.risk_metrics.runs.plan_ranges) against the per-portfolio
planning it replaced (:func:`per_portfolio_figures`: two queries per portfolio to find its
start, then runs.plan_run for it alone, which loads the shared history, the trading days
and the marks again each time), in turn on the same state. It prints the planning's and
the whole stage's seconds and SQL statements (the price panel's binary COPY, one per
history load, not counted) and their ratios, and checks that both store the same
snapshots.

Usage (from the repository root)::

    uv run python backend/perf/refresh.py              # 500 symbols, 1,000 days of history
    uv run python backend/perf/refresh.py --quick      # 50 symbols, 300 days, for CI
    uv run python backend/perf/refresh.py --portfolios 200   # and the figures stage of 200

Prints a table and writes JSON to ``backend/perf/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.core.db import ASYNC_DRIVER, with_driver
from app.core.redaction import safe_url
from app.formulas.book import DEFAULT_BETA_WINDOW
from app.integrations.fmp.client import FmpClient
from app.portfolios.repository import (
    PortfolioNotFoundError,
    first_entry_date,
    latest_snapshot_date,
    stale_marks,
)
from app.prices.repository import last_trading_day
from app.refresh.figures import FiguresOutcome, bring_figures_current, due_portfolios
from app.refresh.service import RefreshProgress, RefreshReport, refresh
from app.risk_metrics import runs
from devtools.databases import alembic_config, benchmark_server_url, throwaway_database
from devtools.fake_fmp import STABLE, FakeFmp
from devtools.fake_fmp_market_data import (
    FakeMarket,
    FakeSecurity,
    fmp_profile,
    market_days,
    quarterly,
    random_walk,
)
from perf import write_report

START = date(2020, 1, 1)
CALENDARS = (f"{STABLE}/splits-calendar", f"{STABLE}/dividends-calendar")


def build_market(symbols: int, days: list[date]) -> FakeMarket:
    securities = [
        FakeSecurity(
            "SPY",
            days,
            random_walk(len(days), seed=1, first=400, vol=0.01),
            dividends=quarterly(days, Decimal("1.50")),
        )
    ]
    for n in range(symbols):
        dividends = quarterly(days, Decimal("0.25"), first=10 + n % 50) if n % 5 == 0 else {}
        securities.append(
            FakeSecurity(
                f"S{n:04d}", days, random_walk(len(days), seed=100 + n), dividends=dividends
            )
        )
    profiles = {s.symbol: fmp_profile(s.symbol, "Industrials") for s in securities}
    return FakeMarket(securities, profiles)


def seed_book(url: URL, symbols: int, entry: date) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "WITH p AS (INSERT INTO portfolios (name, equity_balance)"
                    " VALUES ('Book', 10000000) RETURNING id)"
                    " INSERT INTO positions (portfolio_id, symbol, position_type, quantity,"
                    " entry_price, entry_date)"
                    " SELECT p.id, 'S' || lpad(g::text, 4, '0'), 'LONG', 10 + g % 90, 100, :entry"
                    " FROM p, generate_series(0, :n - 1) g"
                ),
                {"n": symbols, "entry": entry},
            )
    finally:
        engine.dispose()


@dataclass
class Measured:
    name: str
    requests: int
    seconds: float
    prices_seconds: float
    figures_seconds: float
    portfolio_dates: int
    exit_code: int


async def measure(url: URL, fake: FakeFmp, name: str, through: date) -> Measured:
    engine = create_async_engine(with_driver(url, ASYNC_DRIVER), poolclass=NullPool)
    stages: list[tuple[str, float]] = []
    progress = RefreshProgress(stage=lambda what, total: stages.append((what, time.perf_counter())))
    report = RefreshReport()
    try:
        async with FmpClient(fake.api_key, fake.base_url, backoff=0.001) as client:
            started = time.perf_counter()
            # The book's symbols and SPY only: the figures below are per held symbol (the
            # seven factor ETFs a real refresh also brings would add as many symbols).
            await refresh(
                engine, client, report, through=through, progress=progress, factor_etfs=()
            )
            ended = time.perf_counter()
    finally:
        await engine.dispose()
    figures_from = next((t for what, t in stages if what.startswith("figures")), ended)
    return Measured(
        name,
        report.requests,
        ended - started,
        figures_from - started,
        ended - figures_from,
        len(report.figures.run.summaries),
        report.exit_code,
    )


# --- the figures stage of many portfolios -----------------------------------------------


def seed_portfolios(url: URL, count: int, held: int, symbols: int, entries: list[date]) -> None:
    """``count`` portfolios of ``held`` of the ``symbols`` stocks each (spread over them),
    entered on the days of ``entries`` in turn; the one-book portfolio is deleted, so the
    stage is theirs alone."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE portfolios SET deleted_at = now() WHERE name = 'Book'"))
            conn.execute(
                text(
                    "WITH p AS (INSERT INTO portfolios (name, equity_balance)"
                    " SELECT 'P' || lpad(i::text, 5, '0'), 1000000"
                    " FROM generate_series(0, :count - 1) i RETURNING id, name),"
                    " n AS (SELECT id, substr(name, 2)::int AS i FROM p)"
                    " INSERT INTO positions (portfolio_id, symbol, position_type, quantity,"
                    " entry_price, entry_date)"
                    " SELECT n.id, 'S' || lpad(((n.i * 7 + j * :step) % :symbols)::text, 4, '0'),"
                    " 'LONG', 10 + j, 100, (CAST(:entries AS date[]))[1 + n.i % :days]"
                    " FROM n, generate_series(0, :held - 1) j"
                ),
                {
                    "count": count,
                    "held": held,
                    "symbols": symbols,
                    "step": max(1, symbols // held),
                    "entries": entries,
                    "days": len(entries),
                },
            )
    finally:
        engine.dispose()


async def per_portfolio_due(engine: AsyncEngine) -> tuple[date, list[tuple[uuid.UUID, date]]]:
    """The figures stage's due portfolios as found before figures_extents: the market's
    last day, and each live portfolio's start from queries of its own."""
    async with AsyncSession(engine) as session:
        last = await last_trading_day(session)
        assert last is not None
        marks = {m.portfolio_id: m.stale_from for m in await stale_marks(session)}
        due = []
        for portfolio_id, _ in await runs.portfolios_to_run(session):
            latest = await latest_snapshot_date(session, portfolio_id)
            start = (
                latest + timedelta(days=1)
                if latest is not None
                else await first_entry_date(session, portfolio_id)
            )
            if portfolio_id in marks:
                start = min(d for d in (start, marks[portfolio_id]) if d is not None)
            if start is not None and start <= last:
                due.append((portfolio_id, start))
    return last, due


async def plan_alone(
    engine: AsyncEngine, portfolio_id: uuid.UUID, start: date, last: date
) -> runs.RunPlan | None:
    """runs.plan_run of one portfolio (its history, trading days and marks loaded for it
    alone), as the stage planned each before runs.plan_ranges; None: nothing to run."""
    try:
        return await runs.plan_run(engine, start, last, single=False, only=portfolio_id)
    except (runs.NothingToRunError, PortfolioNotFoundError):
        return None


async def per_portfolio_plans(engine: AsyncEngine) -> list[runs.RunPlan]:
    """The planning before runs.plan_ranges: the baseline the refresh's is measured against."""
    last, due = await per_portfolio_due(engine)
    plans = [await plan_alone(engine, portfolio_id, start, last) for portfolio_id, start in due]
    return [plan for plan in plans if plan is not None]


async def plans_together(engine: AsyncEngine) -> list[runs.RunPlan]:
    """The refresh's planning (what bring_figures_current does before running)."""
    through, due = await due_portfolios(engine)
    assert through is not None
    return await runs.plan_ranges(engine, [(d.portfolio_id, d.name, d.start) for d in due], through)


async def per_portfolio_figures(engine: AsyncEngine) -> int:
    """The figures stage as it was before runs.plan_ranges (each portfolio planned right
    before its run); the portfolio-dates stored."""
    result = runs.RunResult()
    last, due = await per_portfolio_due(engine)
    for portfolio_id, start in due:
        plan = await plan_alone(engine, portfolio_id, start, last)
        if plan is None:
            continue
        await runs.run_plan(engine, plan, result, beta_window=DEFAULT_BETA_WINDOW)
        await runs.clear_covered_marks(engine, plan, result)
    return len(result.summaries)


async def figures_together(engine: AsyncEngine) -> int:
    """The refresh's figures stage; the portfolio-dates stored."""
    outcome = FiguresOutcome()
    await bring_figures_current(engine, outcome, beta_window=DEFAULT_BETA_WINDOW)
    return len(outcome.run.summaries)


@dataclass
class StageMeasured:
    name: str
    planning_seconds: float
    planning_statements: int
    stage_seconds: float
    stage_statements: int
    portfolio_dates: int


async def measure_stage(
    url: URL,
    name: str,
    plan: Callable[[AsyncEngine], Awaitable[list[runs.RunPlan]]],
    stage: Callable[[AsyncEngine], Awaitable[int]],
    day: date,
) -> tuple[StageMeasured, list[tuple[object, ...]]]:
    """Plan alone, then the whole stage, with ``day``'s figures removed before it (the
    day due); the statements each sends, and the snapshots of ``day`` stored."""
    engine = create_async_engine(with_driver(url, ASYNC_DRIVER), poolclass=NullPool)
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    try:
        # The day's figures gone, snapshots too: the day is due again for every portfolio.
        await runs.delete_figures(engine, day, day)
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM portfolio_snapshots WHERE calculation_date = :day"), {"day": day}
            )
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        started = time.perf_counter()
        await plan(engine)
        planning = time.perf_counter() - started, len(sent)
        sent.clear()
        started = time.perf_counter()
        stored = await stage(engine)
        whole = time.perf_counter() - started, len(sent)
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        async with engine.connect() as conn:
            snapshots = [
                tuple(r)
                for r in await conn.execute(
                    text(
                        "SELECT portfolio_id, (to_jsonb(s) - 'id' - 'created_at'"
                        " - 'updated_at')::text FROM portfolio_snapshots s"
                        " WHERE calculation_date = :day ORDER BY 1"
                    ),
                    {"day": day},
                )
            ]
    finally:
        await engine.dispose()
    return StageMeasured(name, *planning, *whole, stored), snapshots


def measure_portfolios(
    url: URL, args: argparse.Namespace, days: list[date]
) -> tuple[StageMeasured, StageMeasured, bool]:
    """The figures stage of ``args.portfolios`` portfolios, each way twice in turn (the
    faster of the two kept): (per portfolio, together, whether they stored the same)."""
    through = days[-1]
    seed_portfolios(url, args.portfolios, args.portfolio_symbols, args.symbols, days[-7:-2])
    # Their first figures, from their entry days: not measured.
    asyncio.run(_first_figures(url))
    ways = {
        "per portfolio (before)": (per_portfolio_plans, per_portfolio_figures),
        "together (plan_ranges)": (plans_together, figures_together),
    }
    best: dict[str, StageMeasured] = {}
    stored: dict[str, list[tuple[object, ...]]] = {}
    for _ in range(2):
        for name, (plan, stage) in ways.items():
            measured, stored[name] = asyncio.run(measure_stage(url, name, plan, stage, through))
            if name not in best or measured.stage_seconds < best[name].stage_seconds:
                best[name] = measured
    same = stored["per portfolio (before)"] == stored["together (plan_ranges)"]
    return best["per portfolio (before)"], best["together (plan_ranges)"], same


def report_portfolios(
    out: Console, args: argparse.Namespace, before: StageMeasured, ours: StageMeasured, same: bool
) -> dict[str, Any]:
    """Print the figures stage's measures; the JSON of them."""
    table = Table(
        title=f"Figures stage: {args.portfolios} portfolios of {args.portfolio_symbols} "
        f"stocks, one day due ({args.days:,} days of history)"
    )
    for column in ("planning", "plan s", "plan SQL", "stage s", "stage SQL", "dates"):
        table.add_column(column, justify="left" if column == "planning" else "right")
    for m in (before, ours):
        table.add_row(
            m.name,
            f"{m.planning_seconds:.2f}",
            str(m.planning_statements),
            f"{m.stage_seconds:.2f}",
            str(m.stage_statements),
            str(m.portfolio_dates),
        )
    out.print(table)
    ratios = {
        "ratio_planning_seconds": before.planning_seconds / ours.planning_seconds,
        "ratio_planning_statements": before.planning_statements / ours.planning_statements,
        "ratio_stage_seconds": before.stage_seconds / ours.stage_seconds,
    }
    out.print(
        f"per portfolio / together: planning {ratios['ratio_planning_seconds']:.1f}x seconds, "
        f"{ratios['ratio_planning_statements']:.1f}x statements; the stage "
        f"{ratios['ratio_stage_seconds']:.2f}x seconds; same snapshots stored: {same}"
    )
    return {
        "portfolios": args.portfolios,
        "portfolio_symbols": args.portfolio_symbols,
        "ways": [before.__dict__, ours.__dict__],
        "same_snapshots": same,
        **ratios,
    }


async def _first_figures(url: URL) -> None:
    engine = create_async_engine(with_driver(url, ASYNC_DRIVER), poolclass=NullPool)
    try:
        await figures_together(engine)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=1_000, help="trading days of history")
    parser.add_argument("--book-days", type=int, default=21, help="trading days held")
    parser.add_argument("--quick", action="store_true", help="50 symbols, 300 days")
    parser.add_argument("--database-url", help="server for the throwaway database")
    parser.add_argument(
        "--portfolios",
        type=int,
        default=0,
        help="then measure the figures stage of this many portfolios (default: not)",
    )
    parser.add_argument(
        "--portfolio-symbols", type=int, default=20, help="stocks per portfolio (--portfolios)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.symbols, args.days = 50, 300

    days = market_days(START, args.days + 3)
    first, daily, baseline = len(days) - 3, len(days) - 2, len(days) - 1
    market = build_market(args.symbols, days)
    market.asof = days[first]
    out = Console()
    server = benchmark_server_url(args.database_url)
    results: list[Measured] = []
    with FakeFmp() as fake, throwaway_database(server, "bench_refresh") as url:
        market.serve(fake)
        command.upgrade(alembic_config(url), "head")
        seed_book(url, args.symbols, days[first - args.book_days])
        results.append(asyncio.run(measure(url, fake, "first load", days[first])))
        market.asof = days[daily]
        results.append(asyncio.run(measure(url, fake, "daily run", days[daily])))
        results.append(asyncio.run(measure(url, fake, "no new day", days[daily])))
        market.asof = days[baseline]
        fake.restricted_paths |= set(CALENDARS)
        results.append(
            asyncio.run(measure(url, fake, "baseline: actions per symbol", days[baseline]))
        )
        many = measure_portfolios(url, args, days) if args.portfolios > 0 else None

    by_name = {r.name: r for r in results}
    ours, base = by_name["daily run"], by_name["baseline: actions per symbol"]
    report: dict[str, Any] = {
        "symbols": args.symbols,
        "history_days": args.days,
        "book_days": args.book_days,
        "server": safe_url(server),
        "runs": [r.__dict__ for r in results],
        "ratio_requests_baseline_to_daily": base.requests / ours.requests,
        "ratio_seconds_baseline_to_daily": base.seconds / ours.seconds,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    table = Table(
        title=f"Refresh of a {args.symbols}-symbol book on the fake FMP "
        f"({args.days:,} days of history, held {args.book_days} days)"
    )
    for column in ("run", "requests", "seconds", "prices s", "figures s", "dates", "exit"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for r in results:
        table.add_row(
            r.name,
            str(r.requests),
            f"{r.seconds:.2f}",
            f"{r.prices_seconds:.2f}",
            f"{r.figures_seconds:.2f}",
            str(r.portfolio_dates),
            str(r.exit_code),
        )
    out.print(table)
    out.print(
        f"baseline / daily run: {report['ratio_requests_baseline_to_daily']:.2f}x requests, "
        f"{report['ratio_seconds_baseline_to_daily']:.2f}x seconds"
    )
    if many is not None:
        report["figures_stage"] = report_portfolios(out, args, *many)
    out.print(f"JSON: {write_report('refresh', report)}")
    failed = [r.name for r in results if r.exit_code != 0]
    if many is not None and not many[2]:
        failed.append("figures stage: the two plannings stored different snapshots")
    if failed:
        out.print(f"[bold red]runs that did not end 0:[/] {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
