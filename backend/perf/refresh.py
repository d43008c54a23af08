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

Usage (from the repository root)::

    uv run python backend/perf/refresh.py              # 500 symbols, 1,000 days of history
    uv run python backend/perf/refresh.py --quick      # 50 symbols, 300 days, for CI

Prints a table and writes JSON to ``backend/perf/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.core.db import ASYNC_DRIVER, with_driver
from app.core.redaction import safe_url
from app.integrations.fmp.client import FmpClient
from app.refresh.service import RefreshProgress, RefreshReport, refresh
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
from perf import RESULTS_DIR

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=1_000, help="trading days of history")
    parser.add_argument("--book-days", type=int, default=21, help="trading days held")
    parser.add_argument("--quick", action="store_true", help="50 symbols, 300 days")
    parser.add_argument("--database-url", help="server for the throwaway database")
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
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"refresh-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    out.print(f"JSON: {path}")
    failed = [r.name for r in results if r.exit_code != 0]
    if failed:
        out.print(f"[bold red]runs that did not end 0:[/] {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
