"""Risk engine throughput: 5,000 positions x 300 trading days, computed and persisted.

Measures
* compute: betas (OLS vs SPY over 90 days, full statistics) and volatility (21/63-day
  realized, HAR-RV fit and forecast, trend, percentile) for every position, vectorised
  (app.formulas) - best and median of several repeats;
* reference: the usual per-position loop (statsmodels OLS for the beta and for the HAR
  fit, numpy for the realized vols) on the same data; the ratio is reference / compute;
* persist: the engine's write of the 5,000 beta rows and 5,000 volatility rows in one
  transaction (COPY into temporary tables, one set-based upsert each), first as inserts,
  then again as updates (ON CONFLICT DO UPDATE).

Usage (from the repository root)::

    uv run python backend/perf/risk_engine.py
    uv run python backend/perf/risk_engine.py --positions 1000 --reference-positions 200

Persistence runs in a throwaway database (see devtools/databases.py), migrated to head and
dropped afterwards. Prints a table and writes JSON to ``backend/perf/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.core.db import ASYNC_DRIVER, create_sessionmaker, with_driver
from app.core.redaction import safe_url
from app.formulas.as_held import AsHeldBook, as_held_at
from app.formulas.beta import ols_beta_at
from app.formulas.book import analyse_book_dates
from app.formulas.volatility import volatility_at
from app.models import Portfolio, Position
from app.risk_metrics.rows import FigureRows, position_beta_rows, position_volatility_rows
from app.risk_metrics.store import store_portfolio_dates
from devtools.databases import alembic_config, benchmark_server_url, throwaway_database
from perf import write_report

BETA_WINDOW = 90
CALC_DATE = date(2025, 10, 17)


def synthetic_returns(positions: int, days: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    regime = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.05, days)) * 0.3)
    market = regime * rng.standard_normal(days)
    betas = rng.uniform(-0.5, 2.0, positions)
    idio = rng.uniform(0.005, 0.03, positions)
    returns = market[:, None] * betas + rng.standard_normal((days, positions)) * idio
    return returns, market


def compute(returns: np.ndarray, market: np.ndarray) -> tuple[Any, Any]:
    """The series figures of the last day, as the engine computes them for one date."""
    last = np.array([returns.shape[0] - 1], dtype=np.intp)
    return (
        ols_beta_at(returns, market, last, window=BETA_WINDOW).at(0),
        volatility_at(returns, last).at(0),
    )


def book(returns: np.ndarray, market: np.ndarray) -> Any:
    """What the engine computes for one portfolio-date: the series figures above plus the
    portfolio's (exposure-weighted betas, its return series' volatility and tail risk,
    concentration, sectors, and the as-held book's direct beta and realized drawdown, the
    book held all along), from prices."""
    prices = 50 * np.cumprod(np.vstack([np.ones((1, returns.shape[1])), 1 + returns]), axis=0)
    market_prices = np.asarray(400 * np.cumprod(np.r_[1.0, 1 + market]), dtype=np.float64)
    positions = returns.shape[1]
    symbols = [f"S{j:05d}" for j in range(positions)]
    exposures = np.where(np.arange(positions) % 5 == 0, -1000.0, 1000.0)
    sectors = {s: f"Sector {j % 11}" for j, s in enumerate(symbols)}
    last = np.array([prices.shape[0] - 1], dtype=np.intp)
    held = AsHeldBook(
        np.arange(positions),
        exposures / prices[-1],
        np.zeros(positions, dtype=np.intp),
        np.full(positions, prices.shape[0] - 1, dtype=np.intp),
    )
    as_held = as_held_at(prices, market_prices, held, last, 1e7, beta_window=BETA_WINDOW)
    figures = analyse_book_dates(
        prices, market_prices, symbols, last, [np.arange(positions)], [exposures], 1e7, sectors
    )
    return figures, as_held


def reference_loop(returns: np.ndarray, market: np.ndarray, positions: int) -> float:
    """The per-position way: one statsmodels fit for beta, one for HAR, numpy for vols."""
    import statsmodels.api as sm

    x = sm.add_constant(market[-BETA_WINDOW:])
    started = time.perf_counter()
    for j in range(positions):
        r = returns[:, j]
        sm.OLS(r[-BETA_WINDOW:], x).fit()
        np.std(r[-21:], ddof=1)
        np.std(r[-63:], ddof=1)
        rv = r**2
        rows = [
            (rv[t], rv[t - 4 : t + 1].mean(), rv[t - 20 : t + 1].mean(), rv[t + 1 : t + 22].mean())
            for t in range(20, len(r) - 21)
        ]
        design = np.array(rows)
        sm.OLS(design[:, 3], sm.add_constant(design[:, :3])).fit()
    return time.perf_counter() - started


def beta_and_vol_rows(
    betas: Any, vols: Any, position_ids: list[uuid.UUID]
) -> tuple[FigureRows, FigureRows]:
    """The rows the engine writes, built by the engine's own row builders."""
    positions = [SimpleNamespace(id=pid, symbol=f"S{j:05d}") for j, pid in enumerate(position_ids)]
    series = np.arange(len(positions))
    skipped: list[tuple[str, str]] = []
    beta_rows = position_beta_rows(betas, positions, series, CALC_DATE, skipped)
    vol_rows = position_volatility_rows(vols, positions, series, CALC_DATE, skipped)
    return beta_rows, vol_rows


async def persist(url: Any, betas: Any, vols: Any, positions: int) -> dict[str, float]:
    engine = create_async_engine(with_driver(url, ASYNC_DRIVER), poolclass=NullPool)
    maker = create_sessionmaker(engine)
    portfolio_id = uuid.uuid4()
    position_ids = [uuid.uuid4() for _ in range(positions)]
    async with maker() as session, session.begin():
        await session.execute(pg_insert(Portfolio).values(id=portfolio_id, name="Benchmark"))
        await session.execute(
            pg_insert(Position),
            [
                {
                    "id": pid,
                    "portfolio_id": portfolio_id,
                    "symbol": f"S{j:05d}",
                    "quantity": 100,
                    "entry_price": 10,
                    "entry_date": date(2024, 1, 2),
                }
                for j, pid in enumerate(position_ids)
            ],
        )
    timings: dict[str, float] = {}
    for label in ("insert", "update"):
        started = time.perf_counter()
        beta_rows, vol_rows = beta_and_vol_rows(betas, vols, position_ids)
        async with maker() as session, session.begin():
            await store_portfolio_dates(
                session, portfolio_id, [CALC_DATE], BETA_WINDOW, beta_rows, vol_rows, []
            )
        timings[label] = time.perf_counter() - started
    await engine.dispose()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=5000)
    parser.add_argument("--days", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--reference-positions",
        type=int,
        default=None,
        help="positions timed in the statsmodels loop (default: all); the ratio scales it",
    )
    parser.add_argument("--database-url", default=None, help="server for the throwaway db")
    args = parser.parse_args(argv)
    out = Console()

    returns, market = synthetic_returns(args.positions, args.days)
    compute(returns[:, :10], market)  # warm-up: imports, BLAS threads
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        betas, vols = compute(returns, market)
        times.append(time.perf_counter() - started)
    compute_best, compute_median = min(times), statistics.median(times)
    book(returns[:, :10], market)
    book_times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        book(returns, market)
        book_times.append(time.perf_counter() - started)
    book_median = statistics.median(book_times)

    ref_n = min(args.reference_positions or args.positions, args.positions)
    with out.status(f"statsmodels loop over {ref_n:,} positions..."):
        ref_time = reference_loop(returns, market, ref_n) * args.positions / ref_n

    server = benchmark_server_url(args.database_url)
    with (
        out.status(f"persisting into a throwaway database on {safe_url(server)}..."),
        throwaway_database(server, "bench_risk") as url,
    ):
        command.upgrade(alembic_config(url), "head")
        persisted = asyncio.run(persist(url, betas, vols, args.positions))

    report = {
        "benchmark": "risk_engine",
        "run_at": datetime.now(UTC).isoformat(),
        "positions": args.positions,
        "trading_days": args.days,
        "beta_window": BETA_WINDOW,
        "compute_seconds_best": compute_best,
        "compute_seconds_median": compute_median,
        "compute_repeats": args.repeats,
        "reference_seconds": ref_time,
        "reference_positions_timed": ref_n,
        "speedup_vs_reference": ref_time / compute_median,
        "book_seconds_median": book_median,
        "persist_insert_seconds": persisted["insert"],
        "persist_update_seconds": persisted["update"],
        "rows_per_persist": 2 * args.positions,
        "goals": {"compute_seconds": 0.1, "speedup_vs_reference": 200, "persist_seconds": 5.0},
    }
    table = Table(title=f"Risk engine: {args.positions:,} positions x {args.days} trading days")
    table.add_column("Measure")
    table.add_column("Seconds", justify="right")
    table.add_column("Goal / note", justify="right")
    table.add_row("compute (vectorised), best", f"{compute_best:.3f}", "<= 0.1 s")
    table.add_row("compute (vectorised), median", f"{compute_median:.3f}", "<= 0.1 s")
    table.add_row("with the portfolio's figures, median", f"{book_median:.3f}", "")
    note = "" if ref_n == args.positions else f"timed on {ref_n:,}, scaled"
    table.add_row("per-position statsmodels loop", f"{ref_time:.2f}", note)
    table.add_row(
        "speed-up (loop / vectorised median)", f"{ref_time / compute_median:.0f}x", ">= 200x"
    )
    table.add_row(
        f"persist {2 * args.positions:,} rows (insert)", f"{persisted['insert']:.3f}", "< 5 s"
    )
    table.add_row(
        f"persist {2 * args.positions:,} rows (update)", f"{persisted['update']:.3f}", "< 5 s"
    )
    out.print(table)
    out.print(f"JSON: {write_report('risk_engine', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
