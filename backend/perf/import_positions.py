"""Importing a book: 10,000 positions from CSV against a plain COPY of the same rows.

Measures, side by side in one run on a throwaway database (devtools/databases.py) migrated
to head, app.portfolios.imports.import_book as the API and the CLI run it (read and check
every row by the rules, lock the portfolio, read the book held on as_of, diff, check the
limits and the data status of every symbol, write, move the stale mark) in three cases:
* first import: append N positions into an empty portfolio (N rows written);
* re-import: replace with the same file a book of N positions of which a tenth differ
  (a tenth of N closed and added, the rest unchanged): a daily import of the whole book;
* turnover: replace a book of N other positions (N closed and N added), the worst case;
against the limit: a plain COPY of the same N rows, already built as records, into
the same portfolio of the same ``positions`` table (indexes, CHECKs, foreign key and
triggers in place). Profiles and --price-days daily closes (default a year) of the file's
symbols are loaded, as they are once the book is in use: the import looks up whether each
symbol has prices, and that lookup costs what the price table's size makes it cost.

Each case runs on its own connection, warmed by one untimed run (its statements prepared
and its types known, as a pooled connection of the API has them), then --repeat timed
runs, the cases alternating, each run in a transaction rolled back (every run sees the
same book), and ``positions`` vacuumed between rounds (each round sees the same table).
Reported: the best run of each (as timeit reports: on a shared machine the slower runs
measure the neighbours) and the median, each as a ratio to the COPY's. The goal: the
first import and the re-import within 3x, by both.

Usage (from the repository root)::

    uv run python backend/perf/import_positions.py                # 10,000 positions
    uv run python backend/perf/import_positions.py --quick        # 1,000, for CI

Prints a table and writes JSON to ``backend/perf/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.core.db import ASYNC_DRIVER, with_driver
from app.core.redaction import safe_url
from app.portfolios import imports
from app.portfolios.store import POSITION_COLUMNS
from devtools.databases import alembic_config, benchmark_server_url, throwaway_database
from perf import write_report

GOAL = 3.0
AS_OF = date(2025, 1, 3)
ENTRY = date(2025, 1, 2)
OWNER = uuid.UUID("00000000-0000-0000-0000-0000000000a1")

FIRST, REIMPORT, TURNOVER = (
    uuid.UUID(f"00000000-0000-0000-0000-000000000{n}") for n in ("f1c", "e2c", "d3c")
)
CASES = {"first": FIRST, "reimport": REIMPORT, "turnover": TURNOVER}

_SEED = [
    "INSERT INTO users (id, email, password_hash) VALUES (:owner, 'bench@example.com', 'x')",
    "INSERT INTO portfolios (id, name, owner_id) VALUES"
    " (:first, 'First import', :owner), (:reimport, 'Re-import', :owner),"
    " (:turnover, 'Turnover', :owner)",
    # Market data of the file's symbols, loaded.
    "INSERT INTO daily_prices (symbol, date, close, adjusted_close)"
    " SELECT 'S' || lpad(g::text, 5, '0'), DATE '2025-01-02' - d, 50, 50"
    " FROM generate_series(1, :positions) g, generate_series(0, :price_days - 1) d",
    "INSERT INTO security_profiles (symbol, sector) SELECT 'S' || lpad(g::text, 5, '0'),"
    " 'Industrials' FROM generate_series(1, :positions) g",
    # Turnover: a book of N positions the file does not hold.
    "INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price, "
    "entry_date) SELECT :turnover, 'B' || lpad(g::text, 5, '0'), "
    "CASE WHEN g % 5 = 0 THEN 'SHORT' ELSE 'LONG' END, 10 + g % 90, 50, DATE '2024-06-03' "
    "FROM generate_series(1, :positions) g",
]


def book_csv(positions: int) -> str:
    """The file: N stock positions (a fifth short, by a negative quantity), entry prices
    with and without a currency sign."""
    lines = ["symbol,quantity,entry_date,entry_price"]
    for n in range(1, positions + 1):
        quantity = -(10 + n % 90) if n % 5 == 0 else 10 + n % 90
        price = f'"${50 + n % 400:,}.25"' if n % 7 == 0 else f"{50 + n % 400}.25"
        lines.append(f"S{n:05d},{quantity},{ENTRY},{price}")
    return "\n".join(lines) + "\n"


def copy_records(positions: int) -> list[tuple[Any, ...]]:
    """The same rows as COPY records (:data:`POSITION_COLUMNS`), built before timing."""
    records = []
    for n in range(1, positions + 1):
        short = n % 5 == 0
        records.append(
            (
                uuid.uuid4(),
                FIRST,
                f"S{n:05d}",
                "SHORT" if short else "LONG",
                Decimal(10 + n % 90),
                ENTRY,
                Decimal(f"{50 + n % 400}.25"),
                None,
                None,
                None,
                None,
                None,
            )
        )
    return records


Work = Callable[[AsyncSession], Awaitable[Any]]


async def _timed_run(connection: AsyncConnection, work: Work) -> float:
    """One run of ``work`` on ``connection``, in a transaction rolled back afterwards."""
    async with AsyncSession(bind=connection) as session:
        await session.execute(text("SELECT 1"))  # in its transaction
        started = time.perf_counter()
        await work(session)
        elapsed = time.perf_counter() - started
        await session.rollback()
    return elapsed


async def _seed_reimport(url: URL, positions: int) -> None:
    """The re-import's book: the file's positions, every tenth with another quantity."""
    rows = book_csv(positions).splitlines()
    for n in range(10, positions + 1, 10):
        symbol, quantity, *rest = rows[n].split(",", 3)
        rows[n] = ",".join([symbol, str(int(quantity) + (1 if int(quantity) > 0 else -1)), *rest])
    engine = create_async_engine(with_driver(url, ASYNC_DRIVER), poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            data = ("\n".join(rows) + "\n").encode()
            await imports.import_book(
                session, REIMPORT, data, owner=OWNER, as_of=AS_OF, today=AS_OF
            )
    finally:
        await engine.dispose()


async def _measure(url: URL, positions: int, repeat: int) -> dict[str, list[float]]:
    csv = book_csv(positions).encode()
    records = copy_records(positions)
    expected = {
        "first": (positions, 0, 0),
        "reimport": (positions // 10, positions // 10, positions - positions // 10),
        "turnover": (positions, positions, 0),
    }

    def importing(case: str) -> Callable[[AsyncSession], Awaitable[Any]]:
        async def run(session: AsyncSession) -> imports.ImportOutcome:
            outcome = await imports.import_book(
                session,
                CASES[case],
                csv,
                owner=OWNER,
                mode="append" if case == "first" else "replace",
                as_of=AS_OF,
                today=AS_OF,
            )
            counts = (len(outcome.added), len(outcome.closed), len(outcome.unchanged))
            assert counts == expected[case], (case, counts)
            return outcome

        return run

    async def plain_copy(session: AsyncSession) -> None:
        connection = await session.connection()
        pg: Any = (await connection.get_raw_connection()).driver_connection
        await pg.copy_records_to_table("positions", records=records, columns=list(POSITION_COLUMNS))

    works = {"copy": plain_copy, **{case: importing(case) for case in CASES}}
    seconds: dict[str, list[float]] = {name: [] for name in works}
    engine = create_async_engine(with_driver(url, ASYNC_DRIVER), poolclass=NullPool)
    try:
        async with AsyncExitStack() as stack:
            connections = {
                name: await stack.enter_async_context(engine.connect()) for name in works
            }
            for name, work in works.items():  # warm: statements prepared, types known
                await _timed_run(connections[name], work)
            # Alternated, so each sees the same server state (caches, checkpoints, load) in
            # turn, and a table vacuumed of the runs rolled back before.
            for _ in range(repeat):
                await _vacuum(engine)
                for name, work in works.items():
                    seconds[name].append(await _timed_run(connections[name], work))
    finally:
        await engine.dispose()
    return seconds


async def _vacuum(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM positions"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--price-days", type=int, default=252, help="daily closes stored per symbol (a year)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 positions, 5 price days, 2 runs each"
    )
    parser.add_argument("--database-url", help="server for the throwaway database")
    args = parser.parse_args(argv)
    if args.quick:
        args.positions, args.price_days, args.repeat = 1_000, 5, 2

    out = Console()
    server = benchmark_server_url(args.database_url)
    with throwaway_database(server, "bench_import") as url:
        command.upgrade(alembic_config(url), "head")
        engine = create_engine(url)
        with engine.begin() as conn:
            params = {"owner": OWNER, "positions": args.positions, "price_days": args.price_days}
            params |= {case: portfolio for case, portfolio in CASES.items()}
            for statement in _SEED:
                conn.execute(text(statement), params)
        asyncio.run(_seed_reimport(url, args.positions))
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        engine.dispose()
        runs = asyncio.run(_measure(url, args.positions, args.repeat))

    median = {name: statistics.median(values) for name, values in runs.items()}
    best = {name: min(values) for name, values in runs.items()}
    ratios = {case: best[case] / best["copy"] for case in CASES}
    median_ratios = {case: median[case] / median["copy"] for case in CASES}
    report = {
        "positions": args.positions,
        "repeat": args.repeat,
        "price_days": args.price_days,
        "server": safe_url(server),
        "seconds": runs,
        "median_seconds": median,
        "best_seconds": best,
        "ratio_to_copy": ratios,
        "median_ratio_to_copy": median_ratios,
        "goal": GOAL,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    table = Table(
        title=f"Import of {args.positions:,} positions ({args.repeat} runs each, "
        f"{args.price_days} price days a symbol)"
    )
    table.add_column("run")
    table.add_column("best s", justify="right")
    table.add_column("x COPY", justify="right")
    table.add_column("median s", justify="right")
    table.add_column("x COPY", justify="right")
    tenth = args.positions // 10
    for name, label in (
        ("copy", "plain COPY of the same rows"),
        ("first", f"first import: {args.positions:,} added"),
        ("reimport", f"re-import: {tenth:,} closed, {tenth:,} added, the rest unchanged"),
        ("turnover", f"turnover: {args.positions:,} closed, {args.positions:,} added"),
    ):
        table.add_row(
            label,
            f"{best[name]:.3f}",
            f"{best[name] / best['copy']:.2f}",
            f"{median[name]:.3f}",
            f"{median[name] / median['copy']:.2f}",
        )
    out.print(table)
    for case in ("first", "reimport"):
        verdict = "within" if max(ratios[case], median_ratios[case]) <= GOAL else "OVER"
        out.print(
            f"{case} import / COPY = {ratios[case]:.2f}x best, {median_ratios[case]:.2f}x median "
            f"({verdict} the goal of {GOAL:.0f}x)"
        )
    out.print(f"JSON: {write_report('import_positions', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
