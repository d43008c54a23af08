"""Backfill throughput: one portfolio of N positions over D trading days, and the COPY limit.

Measures, in one run on a throwaway database (devtools/databases.py) migrated to head:
* backfill: ``calculate_risk_metrics``' range path (app.risk_metrics.backfill: inputs loaded
  once, all dates of a pass computed at once by the functions single-date runs use too,
  COPY writes per chunk of dates) over D trading days; rows/s, cost per portfolio-date,
  compute vs write split (time in ``compute_portfolio_dates``, which runs in a thread
  while the previous pass is written, and in ``compute_factor_dates`` and
  ``encode_factor_rows``, which run in a thread per chunk beside that chunk's other
  writes; and wall time with a write in flight on any of its connections, and with a
  chunk's factor rows in flight), peak RSS;
* limit: a plain ``COPY`` of the same rows into the same tables (indexes, foreign keys,
  triggers in place): the risk tables' rows and the factor tables' rows, each timed, sent
  in the cheapest form there is (the server's own binary COPY output) over as many
  connections as the backfill writes with; and backfill / limit, also against the risk
  rows alone (the limit before the factor rows were stored).

Backfill and limit run in turn ``--repeats`` times (default 3), from empty tables each
time; the figures are medians, and each repeat's ratio is printed.

Synthetic prices are generated in the database (generate_series: a market random walk
and one beta-loaded random walk per position) with enough history for the HAR fit; with
``--demo`` the data is scripts/demo_data.py's (3 portfolios) instead.

Usage (from the repository root)::

    uv run python backend/perf/backfill.py --positions 5000 --dates 252
    uv run python backend/perf/backfill.py --quick      # once: the CI smoke
    uv run python backend/perf/backfill.py --demo       # the demo year, 786 portfolio-dates

Prints a table and writes JSON to ``backend/perf/results/``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from app.config import BACKEND_DIR
from app.core.redaction import safe_url
from devtools.databases import alembic_config, benchmark_server_url, throwaway_database
from perf import write_report

HISTORY_DAYS = 300
"""Trading days of prices before the first backfilled date (the HAR fit's sample)."""

_SEED_SQL = """
CREATE TEMP TABLE bench_days AS
  SELECT d::date AS date, row_number() OVER (ORDER BY d) AS i,
         (random() - 0.5) * 0.035 AS m
  FROM generate_series(DATE '2025-12-31' - (:days * 7 / 5 + 10), DATE '2025-12-31',
                       INTERVAL '1 day') d
  WHERE extract(isodow FROM d) < 6;
DELETE FROM bench_days WHERE i <= (SELECT count(*) FROM bench_days) - :days;
INSERT INTO daily_prices (symbol, date, close, adjusted_close, source)
  SELECT 'SPY', date, close, close, 'DEMO' FROM (
    SELECT date, round((400 * exp(sum(m) OVER (ORDER BY i)))::numeric, 6) AS close
    FROM bench_days) spy;
INSERT INTO daily_prices (symbol, date, close, adjusted_close, source)
  SELECT symbol, date, close, close, 'DEMO' FROM (
    SELECT 'S' || lpad(s::text, 5, '0') AS symbol, date,
           round((50 * exp(sum((s % 20) * 0.1 * m + (random() - 0.5) * 0.04)
                  OVER (PARTITION BY s ORDER BY i)))::numeric, 6) AS close
    FROM generate_series(1, :positions) s CROSS JOIN bench_days) series;
INSERT INTO portfolios (id, name, equity_balance)
  VALUES ('00000000-0000-0000-0000-0000000000b1', 'Backfill bench', 10000000);
INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price, entry_date)
  SELECT '00000000-0000-0000-0000-0000000000b1', 'S' || lpad(s::text, 5, '0'),
         CASE WHEN s % 5 = 0 THEN 'SHORT' ELSE 'LONG' END,
         10, 50, DATE '2000-01-03'
  FROM generate_series(1, :positions) s;
"""


LIMIT_TABLES = {
    "risk": {
        "position_market_betas": "calc_date",
        "position_volatility": "calculation_date",
        "portfolio_snapshots": "calculation_date",
    },
    "factor": {
        "position_factor_exposures": "calculation_date",
        "portfolio_factor_exposures": "calculation_date",
    },
}
"""The tables a backfill stores, and their date column: the limit COPYs them back."""


def _child(args: argparse.Namespace) -> None:
    """The measured run, in a process whose DATABASE_URL is the throwaway database."""
    import asyncio
    import resource
    import time

    from sqlalchemy.pool import NullPool

    from app.core.db import AsyncSessionLocal, create_engine_for
    from app.risk_metrics import backfill, store
    from app.risk_metrics.calculation import shared_history
    from app.risk_metrics.runs import dates_to_run, portfolios_to_run

    # Wall time with at least one chunk being written (chunks go over several connections),
    # and within it, with a chunk's factor rows being written.
    seconds: dict[str, float] = {"write": 0.0, "factor_write": 0.0}
    in_flight = {"write": 0, "factor_write": 0}
    since = {"write": 0.0, "factor_write": 0.0}

    def timed_write(write: Any, *phases: str) -> Any:
        async def timed(*a: Any, **k: Any) -> None:
            for phase in phases:
                if not in_flight[phase]:
                    since[phase] = time.perf_counter()
                in_flight[phase] += 1
            try:
                await write(*a, **k)
            finally:
                for phase in phases:
                    in_flight[phase] -= 1
                    if not in_flight[phase]:
                        seconds[phase] += time.perf_counter() - since[phase]

        return timed

    # backfill calls the writes and computations through its module: time them there.
    setattr(store, "store_portfolio_dates", timed_write(store.store_portfolio_dates, "write"))  # noqa: B010
    store_factor_rows = getattr(backfill, "store_encoded_factor_rows")  # noqa: B009
    setattr(  # noqa: B010
        backfill,
        "store_encoded_factor_rows",
        timed_write(store_factor_rows, "write", "factor_write"),
    )
    # Thread time: the risk figures (the compute thread), the factor fits and their rows'
    # encoding for COPY (a thread per chunk, beside the chunk's other writes).
    compute_seconds = dict.fromkeys(
        ("compute_portfolio_dates", "compute_factor_dates", "encode_factor_rows"), 0.0
    )

    def timed_compute(name: str) -> Any:
        compute = getattr(backfill, name)

        def timed(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return compute(*a, **k)
            finally:
                compute_seconds[name] += time.perf_counter() - started

        return timed

    for name in compute_seconds:
        setattr(backfill, name, timed_compute(name))

    async def backfill_once() -> tuple[float, list[Any]]:
        """One backfill of every portfolio, reads included: (seconds, its dates)."""
        started = time.perf_counter()
        async with AsyncSessionLocal() as session:
            portfolios = [p for p, _ in await portfolios_to_run(session)]
            all_days = await dates_to_run(
                session, datetime(1990, 1, 1).date(), datetime(2100, 1, 1).date(), single=False
            )
            days = all_days[-args.dates :]
            history = await shared_history(session, portfolios, days[0], days[-1])
        engine = create_engine_for(poolclass=NullPool)
        for portfolio_id in portfolios:  # as calculate_risk_metrics.py --jobs 1 does
            await backfill.backfill_portfolio(engine, portfolio_id, days, history, 90)
        await engine.dispose()
        counts["portfolio_dates"], counts["dates"] = len(days) * len(portfolios), len(days)
        return time.perf_counter() - started, days

    # The limit: the same rows COPYed straight into the same tables, in the form that costs
    # the client nothing (the server's own binary COPY output, sent back as is), over as
    # many connections as the backfill writes with, each its share of the dates: first the
    # risk tables' rows, then the factor tables' (both, like for like).
    Dumped = list[list[tuple[str, io.BytesIO]]]  # per connection: (table, COPY data)

    async def dump(days: list[Any]) -> dict[str, Dumped]:
        parts = [(days[i :: backfill.WRITERS]) for i in range(backfill.WRITERS)]
        out: dict[str, Dumped] = {}
        async with AsyncSessionLocal() as session:
            connection = await session.connection()
            pg: Any = (await connection.get_raw_connection()).driver_connection
            for kind, tables in LIMIT_TABLES.items():
                out[kind] = [[] for _ in parts]
                for t, day_column in tables.items():
                    counts[t] = await pg.fetchval(f"SELECT count(*) FROM {t}")  # noqa: S608
                    for part, part_days in zip(out[kind], parts, strict=True):
                        buffer = io.BytesIO()
                        await pg.copy_from_query(
                            f"SELECT * FROM {t} WHERE {day_column} = ANY($1::date[])",  # noqa: S608
                            part_days,
                            output=buffer,
                            format="binary",
                        )
                        part.append((t, buffer))
        return out

    async def empty_tables() -> None:
        async with AsyncSessionLocal() as session:
            tables = [t for kind in LIMIT_TABLES.values() for t in kind]
            await session.execute(text(f"TRUNCATE {', '.join(tables)}"))
            await session.commit()

    async def copy_part(part: list[tuple[str, io.BytesIO]]) -> None:
        async with AsyncSessionLocal() as session, session.begin():
            connection = await session.connection()
            await connection.execute(text("SELECT 1"))
            await connection.execute(text("SET LOCAL synchronous_commit = off"))  # as ours
            raw: Any = (await connection.get_raw_connection()).driver_connection
            for t, buffer in part:
                await raw.copy_to_table(t, source=buffer.getbuffer(), format="binary")

    counts: dict[str, int] = {}

    async def run() -> dict[str, Any]:
        # Backfill and limit in turn, each repeat from empty tables: a load that comes and
        # goes on the machine weighs on both sides of each repeat's ratio alike.
        repeats = []
        dumped: dict[str, Dumped] | None = None
        for repeat in range(args.repeats):
            for timers in (seconds, compute_seconds):
                timers.update(dict.fromkeys(timers, 0.0))
            if repeat:
                await empty_tables()
            backfill_seconds, days = await backfill_once()
            if dumped is None:  # the backfill's peak, before the limit's buffers
                counts["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
                dumped = await dump(days)
            await empty_tables()
            copy_seconds = {}
            for kind, parts in dumped.items():
                started = time.perf_counter()
                await asyncio.gather(*(copy_part(part) for part in parts))
                copy_seconds[kind] = time.perf_counter() - started
            repeats.append(
                {
                    "backfill_seconds": backfill_seconds,
                    "write_seconds": seconds["write"],
                    "factor_write_seconds": seconds["factor_write"],
                    "compute_seconds": compute_seconds["compute_portfolio_dates"],
                    "factor_compute_seconds": compute_seconds["compute_factor_dates"],
                    "factor_encode_seconds": compute_seconds["encode_factor_rows"],
                    "copy_seconds": sum(copy_seconds.values()),
                    "risk_copy_seconds": copy_seconds["risk"],
                    "factor_copy_seconds": copy_seconds["factor"],
                }
            )
        return {
            "repeats": repeats,
            "rows": {t: counts[t] for kind in LIMIT_TABLES.values() for t in kind},
            "peak_rss_mb": counts["peak_rss_mb"],
            "dates": counts["dates"],
            "portfolio_dates": counts["portfolio_dates"],
        }

    print(json.dumps(asyncio.run(run())))


def _pair(got: dict[str, Any], name: str, first: str | None = None) -> str:
    """``first`` (default ``name``) and the factor part of ``name``, in seconds."""
    return f"{got[f'{first or name}_seconds']:.2f} s / {got[f'factor_{name}_seconds']:.2f} s"


def _ratios(values: list[float]) -> str:
    """The median ratio, and each repeat's when there are several."""
    median = f"{statistics.median(values):.1f}x"
    return median if len(values) == 1 else f"{median} ({', '.join(f'{v:.1f}' for v in values)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=5000)
    parser.add_argument("--dates", type=int, default=252)
    parser.add_argument("--quick", action="store_true", help="200 positions x 21 dates, once")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="the demo data (scripts/demo_data.py: 3 portfolios, 63 positions) over its "
        "last --dates trading days (default 262: 786 portfolio-dates)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="backfill and limit in turn, this many times (default 3; --quick: 1)",
    )
    parser.add_argument("--database-url", help="server for the throwaway database")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    given = argv if argv is not None else sys.argv
    if args.quick:
        args.positions, args.dates = 200, 21
        if "--repeats" not in given:
            args.repeats = 1
    if args.demo and "--dates" not in given:
        args.dates = 262
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.child:
        _child(args)
        return 0

    out = Console()
    server = benchmark_server_url(args.database_url)
    with throwaway_database(server, "bench_backfill") as url:
        command.upgrade(alembic_config(url), "head")
        env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
        if args.demo:
            subprocess.run(
                [sys.executable, "scripts/demo_data.py"],
                cwd=BACKEND_DIR,
                env=env,
                capture_output=True,
                check=True,
            )
        else:
            engine = create_engine(url)
            with engine.begin() as conn:
                for statement in _SEED_SQL.split(";\n"):
                    if statement.strip():
                        conn.execute(
                            text(statement),
                            {"days": args.dates + HISTORY_DAYS, "positions": args.positions},
                        )
            engine.dispose()
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "x",
                "--dates",
                str(args.dates),
                "--repeats",
                str(args.repeats),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            out.print(child.stderr[-2000:], markup=False)
            return 1
        got = json.loads(child.stdout.strip().splitlines()[-1])

    repeats = got.pop("repeats")
    # Each figure: its median over the repeats.
    got |= {name: statistics.median(r[name] for r in repeats) for name in repeats[0]}
    total_rows = sum(got["rows"].values())
    factor_rows = sum(got["rows"][t] for t in LIMIT_TABLES["factor"])
    backfill_s, write_s = got["backfill_seconds"], got["write_seconds"]
    ratios = [r["backfill_seconds"] / r["copy_seconds"] for r in repeats]
    risk_ratios = [r["backfill_seconds"] / r["risk_copy_seconds"] for r in repeats]
    report = {
        "data": "demo" if args.demo else "synthetic",
        "positions": None if args.demo else args.positions,
        "server": safe_url(server),
        **got,
        "repeats": repeats,
        "reads_seconds": backfill_s - write_s - got["compute_seconds"],
        "rows_per_second": total_rows / backfill_s,
        "ms_per_portfolio_date": 1000 * backfill_s / got["portfolio_dates"],
        "ratio_to_copy": statistics.median(ratios),
        "ratios_to_copy": ratios,
        "ratio_to_risk_copy": statistics.median(risk_ratios),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    title = (
        f"Backfill: demo data, {got['portfolio_dates']} portfolio-dates"
        if args.demo
        else f"Backfill: {args.positions:,} positions x {got['dates']} dates"
    )
    if len(repeats) > 1:
        title += f" (medians of {len(repeats)} repeats)"
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in (
        ("backfill time", f"{backfill_s:.2f} s"),
        ("rows stored (of which factor rows)", f"{total_rows:,} ({factor_rows:,})"),
        ("rows/s", f"{report['rows_per_second']:,.0f}"),
        ("per portfolio-date", f"{report['ms_per_portfolio_date']:.1f} ms"),
        (
            "compute (threads): risk / factor fits / encoding",
            f"{_pair(got, 'compute')} / {got['factor_encode_seconds']:.2f} s",
        ),
        ("writes: all / factor rows (wall, chunk in flight)", _pair(got, "write")),
        ("peak RSS", f"{got['peak_rss_mb']:.0f} MB"),
        ("plain COPY: risk rows / factor rows", _pair(got, "copy", "risk_copy")),
        ("plain COPY of the same rows", f"{got['copy_seconds']:.2f} s"),
        ("backfill / COPY", _ratios(ratios)),
        ("backfill / COPY of the risk rows only", _ratios(risk_ratios)),
    ):
        table.add_row(name, value)
    out.print(table)
    out.print(f"JSON: {write_report('backfill', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
