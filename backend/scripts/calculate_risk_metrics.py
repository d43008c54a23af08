"""Compute and store market betas, sector/concentration and volatility.

    cd backend
    uv run python scripts/calculate_risk_metrics.py --date 2025-10-17
    uv run python scripts/calculate_risk_metrics.py --date 2025-10-17 --portfolio <uuid>
    uv run python scripts/calculate_risk_metrics.py --from 2025-09-01 --to 2025-10-17
    uv run python scripts/calculate_risk_metrics.py --delete --from 2025-09-01 --to 2025-09-30

Writes position_market_betas, position_volatility and the risk columns of
portfolio_snapshots (creating the snapshot row when missing), one transaction per
portfolio and date; re-running a date replaces its figures. A date after the last SPY
price is refused (its figures would be old prices stored as new). ``--delete`` removes
the figures of the dates given (of ``--portfolio`` only, if given) in one transaction:
their betas and volatility rows, and the snapshots' risk columns (set to NULL; the
snapshot rows and their valuation columns stay).

``--json`` prints the result (or the error) as one JSON object on stdout.
Exit codes: 0 ok, 1 data error (a date after the last SPY price or no prices: nothing
written; or some portfolio-dates failed: the others are stored), 2 usage or
configuration error (nothing written), 130 interrupted (the whole portfolio-dates stored
before are kept).
"""

from __future__ import annotations

import app.core.interrupts  # noqa: F401  (first: Ctrl-C while the rest loads is one line)

# isort: split
import argparse
import asyncio
import logging
import multiprocessing
import signal
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from app.core.cli import (
    EXIT_DATA_ERROR,
    EXIT_OK,
    EXIT_USAGE_ERROR,
    CommandError,
    iso_date,
    print_json,
    print_table,
    run_command,
    uuid_arg,
)
from app.core.db import AsyncSessionLocal
from app.core.errors import InvalidQueryError
from app.core.types import DateRange
from app.formulas.beta import MIN_OBSERVATIONS
from app.formulas.book import DEFAULT_BETA_WINDOW
from app.portfolios.repository import PortfolioNotFoundError
from app.prices.repository import MissingMarketDataError, PriceHistory, last_trading_day
from app.risk_metrics.backfill import (
    CHUNK_DATES,
    CHUNK_ROWS,
    ChunkStored,
    backfill_in_worker,
    backfill_portfolio,
    worker_initializer,
)
from app.risk_metrics.batch import dates_to_run, portfolios_to_run, shared_history
from app.risk_metrics.calculation import (
    HISTORY_DAYS,
    PortfolioRiskSummary,
    calculate_portfolio_risk,
)
from app.risk_metrics.store import RemovedFigures, delete_risk_figures


@dataclass
class _Run:
    summaries: list[PortfolioRiskSummary] = field(default_factory=list)
    failures: list[tuple[str, date, str]] = field(default_factory=list)
    interrupted: bool = False
    """Ctrl-C came: the run stopped after the chunk being stored."""

    def stored_line(self) -> str:
        if not self.summaries:
            return "interrupted: nothing stored"
        days = sorted({s.calc_date for s in self.summaries})
        return (
            f"interrupted: {len(self.summaries)} whole portfolio-dates stored "
            f"({days[0]} .. {days[-1]}); re-run the same command to finish"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="calculate_risk_metrics.py",
        description="Compute and upsert position betas, position volatility and portfolio "
        "snapshot risk figures for a date or a date range.",
        epilog="Exit codes: 0 ok, 1 data error (a date after the last SPY price, or some "
        "portfolio-dates failed), 2 usage/config error, 130 interrupted (whole portfolio-dates "
        "stored are kept).",
    )
    parser.add_argument(
        "--delete",
        action="store_true",
        help="remove the stored figures of --date or --from/--to instead of computing them",
    )
    parser.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD", help="one date")
    parser.add_argument("--from", dest="start", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument("--portfolio", type=uuid_arg, metavar="UUID", help="only this portfolio")
    parser.add_argument(
        "--window-days",
        type=int,
        default=DEFAULT_BETA_WINDOW,
        help=f"trading days of returns for betas (default %(default)s, "
        f"{MIN_OBSERVATIONS} to {MAX_WINDOW_DAYS})",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes computing portfolios of a --from/--to run (default 1)",
    )
    parser.add_argument(
        "--chunk-dates",
        type=int,
        default=None,
        help="dates of a portfolio stored per transaction in a --from/--to run "
        f"(default: {CHUNK_ROWS:,} position-dates' worth, at least {CHUNK_DATES})",
    )
    parser.add_argument("--verbose", action="store_true", help="list every skipped figure")
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
    args = parser.parse_args(argv)
    if args.date is not None and (args.start or args.end):
        parser.error("give either --date or --from/--to, not both")
    if args.date is None and not (args.start and args.end):
        parser.error("give --date D, or both --from D1 and --to D2")
    try:
        DateRange(args.start, args.end, names=("--from", "--to"))
    except InvalidQueryError as exc:
        parser.error(str(exc))
    if args.jobs < 1 or (args.chunk_dates is not None and args.chunk_dates < 1):
        parser.error("--jobs and --chunk-dates must be at least 1")
    if not MIN_OBSERVATIONS <= args.window_days <= MAX_WINDOW_DAYS:
        parser.error(
            f"--window-days must be between {MIN_OBSERVATIONS} (fewer observations are never "
            f"estimated) and {MAX_WINDOW_DAYS} (the returns in the {HISTORY_DAYS} trading days "
            f"of prices the engine reads)"
        )
    return args


MAX_WINDOW_DAYS = HISTORY_DAYS - 1
"""Returns in the engine's price history: a longer window could never be filled."""


def _dates(args: argparse.Namespace) -> tuple[date, date]:
    return (args.date, args.date) if args.date is not None else (args.start, args.end)


async def _delete(args: argparse.Namespace) -> RemovedFigures:
    """Remove the figures of the asked dates, all of them or none (one transaction)."""
    start, end = _dates(args)
    async with AsyncSessionLocal() as session, session.begin():
        only = None
        if args.portfolio is not None:
            try:
                only = [p for p, _ in await portfolios_to_run(session, args.portfolio)]
            except PortfolioNotFoundError as exc:
                raise CommandError(EXIT_USAGE_ERROR, str(exc)) from None
        return await delete_risk_figures(session, start, end, only)


async def _run(args: argparse.Namespace, run: _Run, err: Console) -> None:
    single = args.date is not None
    start, end = _dates(args)
    async with AsyncSessionLocal() as session:
        try:
            portfolios = await portfolios_to_run(session, args.portfolio)
        except PortfolioNotFoundError as exc:
            raise CommandError(EXIT_USAGE_ERROR, str(exc)) from None
        last_price = await last_trading_day(session)
        if last_price is not None and end > last_price:
            flag, day = ("--date", start) if single else ("--to", end)
            if start > last_price and not single:
                flag, day = "--from", start
            raise CommandError(
                EXIT_DATA_ERROR,
                f"{flag} {day} is after the last SPY price ({last_price}): load its prices "
                "first; nothing written",
            )
        if not portfolios:
            raise CommandError(
                EXIT_DATA_ERROR, "no portfolios: load some first (scripts/demo_data.py)"
            )
        dates = await dates_to_run(session, start, end, single=single)
        if not dates:
            raise CommandError(
                EXIT_DATA_ERROR, f"no trading days (SPY prices) between {start} and {end}"
            )
        try:
            history = await shared_history(session, [p for p, _ in portfolios], start, end)
        except MissingMarketDataError as exc:
            raise CommandError(EXIT_DATA_ERROR, str(exc)) from None

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("portfolio-dates", total=len(portfolios) * len(dates))
        if single:
            for portfolio_id, name in portfolios:
                progress.update(task, description=f"{name[:28]:<28} {start}")
                await _one(run, portfolio_id, name, start, history, args.window_days)
                progress.advance(task)
            return

        def stored(chunk: ChunkStored) -> None:
            run.summaries.extend(chunk.summaries)
            run.failures.extend((chunk.portfolio_name, d, m) for d, m in chunk.failures)
            done = len(chunk.summaries) + len(chunk.failures)
            progress.update(task, description=f"{chunk.portfolio_name[:28]:<28}", advance=done)

        if args.jobs > 1:
            await _in_workers(run, portfolios, dates, history, args, stored)
            return
        # Ctrl-C sets a flag that the loop reads after each stored chunk.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, lambda: setattr(run, "interrupted", True))
        try:
            for portfolio_id, _ in portfolios:
                await backfill_portfolio(
                    portfolio_id,
                    dates,
                    history,
                    args.window_days,
                    chunk_dates=args.chunk_dates,
                    on_chunk=stored,
                    stop=lambda: run.interrupted,
                )
                if run.interrupted:
                    break
        finally:
            loop.remove_signal_handler(signal.SIGINT)


async def _in_workers(
    run: _Run,
    portfolios: list[tuple[uuid.UUID, str]],
    dates: list[date],
    history: PriceHistory,
    args: argparse.Namespace,
    stored: Callable[[ChunkStored], None],
) -> None:
    """Portfolios in ``--jobs`` worker processes; each stores its chunks as --jobs 1 does.
    Ctrl-C starts no more portfolios and makes the running ones stop after their chunk."""
    context = multiprocessing.get_context("spawn")  # a fresh engine per worker, no shared pool
    stop_event = context.Event()
    with ProcessPoolExecutor(
        args.jobs, mp_context=context, initializer=worker_initializer, initargs=(stop_event,)
    ) as pool:
        jobs = [
            pool.submit(
                backfill_in_worker,
                portfolio_id,
                dates,
                history,
                args.window_days,
                args.chunk_dates,
            )
            for portfolio_id, _ in portfolios
        ]

        def stop() -> None:
            run.interrupted = True
            stop_event.set()
            for job in jobs:
                job.cancel()  # those not started; the running ones stop after a chunk

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop)
        try:
            for next_done in asyncio.as_completed([asyncio.wrap_future(j) for j in jobs]):
                try:
                    chunks = await next_done
                except (asyncio.CancelledError, CancelledError):
                    continue
                for chunk in chunks:
                    stored(chunk)
        finally:
            loop.remove_signal_handler(signal.SIGINT)


async def _one(
    run: _Run,
    portfolio_id: uuid.UUID,
    name: str,
    day: date,
    history: object,
    window_days: int,
) -> None:
    """One portfolio-date in its own transaction: all of it is stored, or none of it."""
    try:
        async with AsyncSessionLocal() as session, session.begin():
            summary = await calculate_portfolio_risk(
                session,
                portfolio_id,
                day,
                history=history,  # type: ignore[arg-type]
                beta_window=window_days,
            )
        run.summaries.append(summary)
    except (MissingMarketDataError, PortfolioNotFoundError) as exc:
        run.failures.append((name, day, str(exc)))


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _last_by_portfolio(run: _Run) -> list[tuple[PortfolioRiskSummary, list[PortfolioRiskSummary]]]:
    """(summary of the last date, all its summaries) per portfolio, in run order."""
    by_portfolio: dict[uuid.UUID, list[PortfolioRiskSummary]] = {}
    for s in run.summaries:
        by_portfolio.setdefault(s.portfolio_id, []).append(s)
    return [(max(items, key=lambda s: s.calc_date), items) for items in by_portfolio.values()]


def _active(pair: tuple[str, float] | None) -> dict[str, Any] | None:
    return None if pair is None else {"sector": pair[0], "active_weight": pair[1]}


def _as_json(run: _Run) -> dict[str, Any]:
    code = EXIT_DATA_ERROR if run.failures else EXIT_OK
    return {
        "status": "error" if run.failures else "ok",
        "exit_code": code,
        "portfolios": [
            {
                "portfolio_id": last.portfolio_id,
                "portfolio_name": last.portfolio_name,
                "dates": len(items),
                "last_date": last.calc_date,
                "positions": last.positions,
                "betas_written": sum(s.betas_written for s in items),
                "volatility_written": sum(s.volatility_written for s in items),
                "beta_coverage": last.beta_coverage,
                "market_beta_weighted": last.market_beta_weighted,
                "market_beta_direct": last.market_beta_direct,
                "realized_volatility_21d": last.realized_volatility_21d,
                "expected_volatility_21d": last.expected_volatility_21d,
                "hhi": last.hhi,
                "largest_overweight": _active(last.largest_overweight),
                "largest_underweight": _active(last.largest_underweight),
                "skipped": [{"item": what, "reason": why} for what, why in last.skipped],
            }
            for last, items in _last_by_portfolio(run)
        ],
        "failures": [
            {"portfolio_name": name, "date": day, "error": message}
            for name, day, message in run.failures
        ],
    }


def _table(run: _Run) -> Table:
    """One row per portfolio: rows written over the run, figures of its last date."""
    table = Table(title="Risk metrics stored", box=box.SIMPLE_HEAVY, title_justify="left")
    for col in ("Portfolio", "Dates", "Last date", "Positions", "Betas/Vols", "Beta cov."):
        table.add_column(col, justify="left" if col == "Portfolio" else "right")
    for col in ("Beta wtd", "Beta direct", "Vol 21d", "HAR 21d", "HHI", "Skipped"):
        table.add_column(col, justify="right")
    if any(s.largest_overweight for s in run.summaries):
        table.add_column("Most over / under vs SP500")
    for last, items in _last_by_portfolio(run):
        row = [
            last.portfolio_name,
            str(len(items)),
            last.calc_date.isoformat(),
            str(last.positions),
            f"{sum(s.betas_written for s in items)}/{sum(s.volatility_written for s in items)}",
            f"{last.beta_coverage:.0%}",
            _fmt(last.market_beta_weighted, ".2f"),
            _fmt(last.market_beta_direct, ".2f"),
            _fmt(last.realized_volatility_21d, ".1%"),
            _fmt(last.expected_volatility_21d, ".1%"),
            _fmt(last.hhi, ",.0f"),
            str(len(last.skipped)),
        ]
        if len(table.columns) > len(row):
            active = "-"
            if last.largest_overweight and last.largest_underweight:
                (hi, hv), (lo, lv) = last.largest_overweight, last.largest_underweight
                active = f"{hi} {hv:+.1%} / {lo} {lv:+.1%}"
            row.append(active)
        table.add_row(*row)
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, err = Console(), Console(stderr=True)
    logging.basicConfig(level=logging.WARNING)
    run = _Run()
    return run_command(
        lambda: _report(args, run, out, err),
        err=err,
        interrupted="interrupted: nothing removed" if args.delete else lambda: run.stored_line(),
        json_out=out if args.json else None,
    )


def _report(args: argparse.Namespace, run: _Run, out: Console, err: Console) -> int:
    if args.delete:
        removed = asyncio.run(_delete(args))
        if args.json:
            print_json(
                out,
                {
                    "status": "ok",
                    "exit_code": EXIT_OK,
                    "removed": {
                        "position_betas": removed.position_betas,
                        "position_volatility": removed.position_volatility,
                        "snapshots_cleared": removed.snapshots_cleared,
                    },
                },
            )
            return EXIT_OK
        start, end = _dates(args)
        span = str(start) if start == end else f"{start} .. {end}"
        scope = f" of portfolio {args.portfolio}" if args.portfolio else ""
        out.print(
            f"removed the figures of {span}{scope}: {removed.position_betas} position betas, "
            f"{removed.position_volatility} position volatility rows and the risk columns of "
            f"{removed.snapshots_cleared} snapshots (rows kept)",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_OK
    asyncio.run(_run(args, run, err))
    if run.interrupted:
        raise KeyboardInterrupt
    for name, day, message in run.failures:
        err.print(f"[red]failed:[/] {name} {day}: {message}", highlight=False, soft_wrap=True)
    if args.json:
        print_json(out, _as_json(run))
        return EXIT_DATA_ERROR if run.failures else EXIT_OK
    print_table(out, _table(run))
    skipped = sum(len(s.skipped) for s in run.summaries)
    if args.verbose:
        for s in run.summaries:
            for symbol, reason in s.skipped:
                out.print(f"  skipped {s.portfolio_name} {s.calc_date} {symbol}: {reason}")
    elif skipped:
        out.print(f"{skipped} figures skipped (a reason for each with --verbose)")
    return EXIT_DATA_ERROR if run.failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
