"""`alembic upgrade head` on a big, busy portfolio_snapshots: what do the writers feel?

Builds a database at the baseline revision with N snapshot rows (generate_series, one
statement), starts K writers that insert and update snapshots in short transactions and
time every statement, then runs the migrations while a sampler watches pg_locks for
writers blocked by the migration. Done twice on identical copies of the data:

* shipped: the revisions as they are (catalog-only ALTERs under lock_timeout, CHECKs
  added NOT VALID and validated afterwards, CREATE INDEX CONCURRENTLY);
* naive:   the same revisions with the textbook helpers swapped in, here only: CHECKs
  validated inline and plain CREATE INDEX, inside each revision's transaction.

Usage (from the repository root)::

    uv run python backend/perf/migration_under_load.py            # 2,000,000 rows
    uv run python backend/perf/migration_under_load.py --quick    # 50,000 rows
    uv run python backend/perf/migration_under_load.py --rows 500000 --writers 8

Prints a table and writes JSON (summary plus every statement's latency) to
``backend/perf/results/``. Exit code 1 when the shipped migrations stall a writer
for ``--max-stall`` seconds or more, or lose a committed row.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import sqlalchemy as sa
from alembic import command, op
from alembic.script import ScriptDirectory
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.redaction import safe_url
from devtools.databases import (
    alembic_config,
    benchmark_server_url,
    create_database,
    drop_database,
)
from perf import write_report

WRITER_APP = "bench_writer"
MIGRATION_APP = "bench_migration"
LOADED_FROM = date(2015, 1, 1)
WRITES_FROM = date(2040, 1, 1)  # writers' new rows never collide with the loaded ones
SAMPLE_EVERY = 0.05

console = Console(stderr=True)


# --------------------------------------------------------------------------- data


def baseline_revision() -> str:
    base = ScriptDirectory.from_config(alembic_config(URL.create("postgresql"))).get_base()
    assert base is not None
    return base


def load_snapshots(url: URL, rows: int, portfolios: int) -> None:
    """Baseline schema plus ``rows`` snapshots over ``portfolios`` portfolios, vacuumed."""
    command.upgrade(alembic_config(url), baseline_revision())
    days = math.ceil(rows / portfolios)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO portfolios (name, equity_balance) "
                    "SELECT 'Portfolio ' || g, round((1e6 + random() * 9e6)::numeric, 2) "
                    "FROM generate_series(1, :n) g"
                ),
                {"n": portfolios},
            )
            conn.execute(
                text(
                    """
                    INSERT INTO portfolio_snapshots (
                        portfolio_id, calculation_date, total_value, cash_value, long_value,
                        short_value, gross_exposure, net_exposure, daily_pnl, daily_return,
                        num_positions)
                    SELECT p.id, CAST(:start AS date) + d,
                           round((1e6 + random() * 9e6)::numeric, 2),
                           round((random() * 1e5)::numeric, 2),
                           round((random() * 8e6)::numeric, 2),
                           round((random() * 2e6)::numeric, 2),
                           round((random() * 1e7)::numeric, 2),
                           round((random() * 6e6)::numeric, 2),
                           round(((random() - 0.5) * 2e5)::numeric, 2),
                           round(((random() - 0.5) * 0.1)::numeric, 6),
                           20 + (random() * 40)::int
                    FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n
                          FROM portfolios) p
                    CROSS JOIN generate_series(0, :days - 1) d
                    WHERE p.n * :days + d < :rows
                    """
                ),
                {"start": LOADED_FROM, "days": days, "rows": rows},
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # A production table is vacuumed; an unvacuumed one would make the first
            # migration pay for setting hint bits and skew both variants.
            conn.execute(text("VACUUM (ANALYZE) portfolios, portfolio_snapshots"))
            conn.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()


# ------------------------------------------------------------------------- writers


@dataclass
class WriterLog:
    started: list[float] = field(default_factory=list)  # seconds since the run's t0
    latency: list[float] = field(default_factory=list)  # seconds
    kind: list[str] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    committed_ids: list[Any] = field(default_factory=list)


def asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def writer(
    dsn: str,
    portfolios: list[Any],
    days: int,
    log: WriterLog,
    stop: asyncio.Event,
    t0: float,
    pause: float,
    seed: int,
) -> None:
    """Short transactions: insert a new snapshot and update an existing one, each
    statement timed. Each writer owns its portfolios, so writers never wait on each other."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn, server_settings={"application_name": WRITER_APP})
    insert = await conn.prepare(
        "INSERT INTO portfolio_snapshots (portfolio_id, calculation_date, total_value, "
        "daily_return, num_positions) VALUES ($1, $2, $3, $4, $5) RETURNING id"
    )
    update = await conn.prepare(
        "UPDATE portfolio_snapshots SET total_value = total_value + 1 "
        "WHERE portfolio_id = $1 AND calculation_date = $2"
    )

    async def timed(kind: str, run: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        try:
            result = await run(*args)
        except (asyncpg.PostgresError, OSError) as exc:
            log.errors[type(exc).__name__] += 1
            ok, result = False, exc
        else:
            ok = True
        log.started.append(start - t0)
        log.latency.append(time.perf_counter() - start)
        log.kind.append(kind)
        log.ok.append(ok)
        if not ok:
            raise result
        return result

    n = 0
    try:
        while not stop.is_set():
            portfolio = portfolios[n % len(portfolios)]
            new_day = WRITES_FROM + timedelta(days=n // len(portfolios))
            old_day = LOADED_FROM + timedelta(days=rng.randrange(days))
            n += 1
            try:
                await timed("begin", conn.execute, "BEGIN")
                value, change = rng.uniform(1e6, 1e7), rng.uniform(-0.05, 0.05)
                new_id = await timed(
                    "insert", insert.fetchval, portfolio, new_day, value, change, 30
                )
                await timed("update", update.fetch, portfolio, old_day)
                await timed("commit", conn.execute, "COMMIT")
                log.committed_ids.append(new_id)
            except (asyncpg.PostgresError, OSError):
                if not conn.is_closed() and conn.is_in_transaction():
                    await conn.execute("ROLLBACK")
            await asyncio.sleep(pause)
    finally:
        await conn.close()


# ------------------------------------------------------------------------- sampler

_BLOCKED = """
SELECT w.pid, extract(epoch FROM clock_timestamp() - w.query_start) AS waited,
       (SELECT string_agg(DISTINCT l.mode || ' on ' || l.relation::regclass::text, ', ')
        FROM pg_locks l
        WHERE l.pid = m.pid AND l.locktype = 'relation' AND l.relation::regclass::text
              IN ('portfolio_snapshots', 'portfolios')) AS migration_locks
FROM pg_stat_activity w
JOIN pg_stat_activity m
  ON m.pid = ANY (pg_blocking_pids(w.pid)) AND m.application_name = $2
WHERE w.datname = current_database() AND w.application_name = $1
  AND w.wait_event_type = 'Lock'
"""


@dataclass
class Blocking:
    longest: float = 0.0
    locks: str = ""
    samples_blocked: int = 0
    samples: int = 0


async def sampler(dsn: str, stop: asyncio.Event, found: Blocking) -> None:
    """Every 50 ms: writers waiting on a lock whose blockers include the migration."""
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "bench_sampler"})
    try:
        while not stop.is_set():
            rows = await conn.fetch(_BLOCKED, WRITER_APP, MIGRATION_APP)
            found.samples += 1
            if rows:
                found.samples_blocked += 1
            for row in rows:
                if float(row["waited"]) > found.longest:
                    found.longest = float(row["waited"])
                    found.locks = row["migration_locks"] or ""
            await asyncio.sleep(SAMPLE_EVERY)
    finally:
        await conn.close()


# ---------------------------------------------------------------------- variants


@contextmanager
def naive_revisions() -> Iterator[Counter[str]]:
    """Swap the lock-safe helpers for the textbook ones while the revisions are loaded.

    Revision modules import the helpers by name when Alembic loads them (once per
    command), so replacing them on ``app.migrations.ops`` for the duration of the command
    is enough. Calls are counted so the report can show the swap took effect."""
    import app.migrations.ops as ops

    calls: Counter[str] = Counter()

    def add_check(table: str, name: str, condition: str) -> None:
        calls["inline CHECK"] += 1
        op.create_check_constraint(op.f(name), table, condition)  # validates under ACCESS EXCLUSIVE

    def create_index(
        name: str, table: str, columns: list[str], *, unique: bool = False, where: str | None = None
    ) -> None:
        calls["plain CREATE INDEX"] += 1
        # SHARE lock, inside the revision transaction.
        op.create_index(
            name,
            table,
            [c if c.isidentifier() else sa.text(c) for c in columns],
            unique=unique,
            postgresql_where=None if where is None else sa.text(where),
        )

    replacements: dict[str, Callable[..., None]] = {
        "set_local_timeouts": lambda: None,
        "add_check_not_valid": add_check,
        "validate_constraints": lambda table, names: None,
        "create_index_concurrently": create_index,
    }
    saved = {name: getattr(ops, name) for name in replacements}
    for name, replacement in replacements.items():
        setattr(ops, name, replacement)
    try:
        yield calls
    finally:
        for name, original in saved.items():
            setattr(ops, name, original)


def run_upgrade(url: URL, naive: bool) -> dict[str, int]:
    config = alembic_config(url.update_query_dict({"application_name": MIGRATION_APP}))
    if not naive:
        command.upgrade(config, "head")
        return {}
    with naive_revisions() as calls:
        command.upgrade(config, "head")
    return dict(calls)


# --------------------------------------------------------------------------- a run


def _stats(latencies: np.ndarray) -> dict[str, float | int]:
    if latencies.size == 0:
        return {"n": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    ms = latencies * 1000
    return {
        "n": int(ms.size),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


async def measure(
    url: URL,
    *,
    variant: str,
    writers: int,
    warmup: float,
    cooldown: float,
    pause: float,
    rows: int,
    portfolios_n: int,
) -> dict[str, Any]:
    dsn = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        portfolios = [r["id"] for r in await conn.fetch("SELECT id FROM portfolios ORDER BY id")]
    finally:
        await conn.close()
    days = math.ceil(rows / portfolios_n)
    logs = [WriterLog() for _ in range(writers)]
    stop_writers, stop_sampler = asyncio.Event(), asyncio.Event()
    blocking = Blocking()
    t0 = time.perf_counter()
    tasks = [
        asyncio.create_task(
            writer(dsn, portfolios[i::writers], days, logs[i], stop_writers, t0, pause, i)
        )
        for i in range(writers)
    ]
    sampling = asyncio.create_task(sampler(dsn, stop_sampler, blocking))
    await asyncio.sleep(warmup)

    m0 = time.perf_counter() - t0
    swapped = await asyncio.to_thread(run_upgrade, url, variant == "naive")
    m1 = time.perf_counter() - t0
    await asyncio.sleep(cooldown)
    stop_writers.set()
    stop_sampler.set()
    await asyncio.gather(*tasks, sampling)

    started = np.concatenate([np.asarray(log.started) for log in logs])
    latency = np.concatenate([np.asarray(log.latency) for log in logs])
    ok = np.concatenate([np.asarray(log.ok, dtype=bool) for log in logs])
    kind = [k for log in logs for k in log.kind]
    settle = min(1.0, warmup / 2)  # connections and plans warm up first
    before = (started >= settle) & (started < m0)
    during = (started >= m0) & (started <= m1)

    committed = [i for log in logs for i in log.committed_ids]
    conn = await asyncpg.connect(dsn)
    try:
        present = await conn.fetchval(
            "SELECT count(*) FROM portfolio_snapshots WHERE id = ANY($1::uuid[])", committed
        )
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()

    errors: Counter[str] = Counter()
    for log in logs:
        errors.update(log.errors)
    return {
        "variant": variant,
        "migration_seconds": m1 - m0,
        "alembic_version": version,
        "naive_substitutions": swapped,
        "before": _stats(latency[before & ok]),
        "during": _stats(latency[during]),
        "max_writer_stall_s": float(latency[during].max()) if during.any() else 0.0,
        "failed_statements": int((~ok).sum()),
        "errors": dict(errors),
        "committed_inserts": len(committed),
        "rows_lost": len(committed) - int(present),
        "longest_blocked_by_migration_s": blocking.longest,
        "blocking_locks": blocking.locks,
        "sampler": {"samples": blocking.samples, "with_blocked_writer": blocking.samples_blocked},
        "statements": {
            "started_s": [round(float(s), 4) for s in started],
            "latency_ms": [round(float(v) * 1000, 3) for v in latency],
            "kind": kind,
            "ok": [bool(v) for v in ok],
            "migration_window_s": [m0, m1],
        },
    }


# -------------------------------------------------------------------------- report


def _fmt(value: float, unit: str = "") -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,}"


def render(results: dict[str, dict[str, Any]], rows: int, writers: int) -> Table:
    variants = list(results)
    table = Table(title=f"alembic upgrade head: {rows:,} snapshot rows, {writers} writers")
    table.add_column("")
    for variant in variants:
        table.add_column(variant, justify="right")
    if len(variants) == 2:
        table.add_column(f"{variants[1]} / {variants[0]}", justify="right")

    def _phase_stat(result: dict[str, Any], phase: str, stat: str) -> float:
        return float(result[phase][f"{stat}_ms"])

    def line(label: str, get: Callable[[dict[str, Any]], float], unit: str = "") -> None:
        values = [get(results[v]) for v in variants]
        cells = [_fmt(v, unit) for v in values]
        if len(values) == 2:
            ratio = values[1] / values[0] if values[0] else math.nan
            cells.append("-" if math.isnan(ratio) else f"{ratio:,.1f}x")
        table.add_row(label, *cells)

    line("migration time", lambda r: r["migration_seconds"], "s")
    for phase in ("before", "during"):
        for stat in ("p50", "p99", "max"):
            line(f"writer {stat} {phase}", partial(_phase_stat, phase=phase, stat=stat), "ms")
    line("max writer stall", lambda r: r["max_writer_stall_s"], "s")
    line("longest blocked by migration", lambda r: r["longest_blocked_by_migration_s"], "s")

    line("statements during", lambda r: r["during"]["n"])
    line("failed statements", lambda r: r["failed_statements"])
    line("rows lost", lambda r: r["rows_lost"])
    notes = [
        f"naive ran: {', '.join(f'{n} {what}' for what, n in r['naive_substitutions'].items())}"
        for r in results.values()
        if r["naive_substitutions"]
    ]
    notes += [
        f"{v}: writers waited on {results[v]['blocking_locks']}"
        for v in variants
        if results[v]["blocking_locks"]
    ]
    table.caption = "\n".join(notes)
    return table


def server_version(url: URL) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="snapshot rows")
    parser.add_argument("--portfolios", type=int, default=2_000)
    parser.add_argument("--writers", type=int, default=4, help="concurrent writers")
    parser.add_argument(
        "--database-url",
        help="server to run on (throwaway bench_* databases are created there and dropped; "
        "default: TEST_DATABASE_URL, else an embedded PostgreSQL in backend/.pgdata/bench)",
    )
    parser.add_argument("--quick", action="store_true", help="50,000 rows, short phases")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before")
    parser.add_argument("--pause", type=float, default=10.0, help="ms between transactions")
    parser.add_argument(
        "--variants", nargs="+", choices=["shipped", "naive"], default=["shipped", "naive"]
    )
    parser.add_argument("--max-stall", type=float, default=1.0, help="seconds (shipped)")
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.portfolios, args.warmup = 50_000, 200, 2.0
    if args.rows < 1 or args.portfolios < 1 or args.writers < 1:
        parser.error("--rows, --portfolios and --writers must be positive")
    args.portfolios = min(args.portfolios, args.rows)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = benchmark_server_url(args.database_url)
    console.print(f"server: {safe_url(server)}")
    created: list[URL] = []
    results: dict[str, dict[str, Any]] = {}
    try:
        loaded = create_database(server, "bench_load")
        created.append(loaded)
        started = time.perf_counter()
        with console.status(f"loading {args.rows:,} snapshot rows at the baseline revision"):
            load_snapshots(loaded, args.rows, args.portfolios)
        load_seconds = time.perf_counter() - started
        console.print(f"loaded {args.rows:,} rows in {load_seconds:.1f} s")
        copies = {}
        for variant in args.variants:  # identical copies: both variants start equal
            copies[variant] = create_database(server, f"bench_{variant}", str(loaded.database))
            created.append(copies[variant])
        for variant, url in copies.items():
            with console.status(f"{variant}: {args.writers} writers + alembic upgrade head"):
                results[variant] = asyncio.run(
                    measure(
                        url,
                        variant=variant,
                        writers=args.writers,
                        warmup=args.warmup,
                        cooldown=min(2.0, args.warmup),
                        pause=args.pause / 1000,
                        rows=args.rows,
                        portfolios_n=args.portfolios,
                    )
                )
            console.print(
                f"{variant}: migrated in {results[variant]['migration_seconds']:.2f} s, "
                f"max writer stall {results[variant]['max_writer_stall_s']:.3f} s"
            )
        version = server_version(loaded)
    finally:
        for url in created:
            drop_database(server, str(url.database))

    Console(width=max(Console().width, 100)).print(render(results, args.rows, args.writers))
    report = {
        "benchmark": "migration_under_load",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "server_version": version,
        "rows": args.rows,
        "portfolios": args.portfolios,
        "writers": args.writers,
        "pause_ms": args.pause,
        "load_seconds": load_seconds,
        "results": results,
    }
    console.print(f"JSON: {write_report(f'migration_under_load_{args.rows}', report, args.json)}")

    shipped = results.get("shipped")
    if shipped is None:
        return 0
    problems = []
    if shipped["max_writer_stall_s"] >= args.max_stall:
        problems.append(f"max writer stall {shipped['max_writer_stall_s']:.3f} s")
    if shipped["rows_lost"]:
        problems.append(f"{shipped['rows_lost']} committed rows lost")
    if problems:
        console.print(f"[red]shipped migrations: {'; '.join(problems)}[/red]")
        return 1
    console.print(f"shipped migrations: max writer stall under {args.max_stall:g} s, no rows lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
