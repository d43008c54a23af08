"""Compute and store market betas, sector/concentration and volatility.

    cd backend
    uv run python scripts/calculate_risk_metrics.py --date 2025-10-17
    uv run python scripts/calculate_risk_metrics.py --date 2025-10-17 --portfolio <uuid>
    uv run python scripts/calculate_risk_metrics.py --from 2025-09-01 --to 2025-10-17
    uv run python scripts/calculate_risk_metrics.py --delete --from 2025-09-01 --to 2025-09-30
    uv run python scripts/calculate_risk_metrics.py --stale

Writes position_market_betas, position_volatility and the risk columns of
portfolio_snapshots (creating the snapshot row when missing), one transaction per
portfolio and date; re-running a date replaces its figures. A date after the last SPY
price is refused (its figures would be old prices stored as new). ``--delete`` removes
the figures of the dates given (of ``--portfolio`` only, if given) in one transaction:
their betas and volatility rows, and the snapshots' risk columns (set to NULL; the
snapshot rows and their valuation columns stay). ``--stale`` recomputes exactly the
portfolio-dates a change of a book made out of date (each marked portfolio's trading days
from its stale_from through the last SPY price) and clears a mark only if the book did
not change while it ran; a ``--from``/``--to`` run through the last SPY price that holds
every one of those days clears the mark the same way.

The summary names each portfolio's largest sector over/underweight on its last date
against its own benchmark (app.risk_metrics.service.portfolio_risk, as the API), or why
there is none. ``--json`` prints the result (or the error) as one JSON object on stdout.
A position whose last price is more than STALE_PRICE_TRADING_DAYS trading days before a
date, or that has none, gets no figures on it: the summary names it with its reason.
Exit codes: 0 ok, 1 data error (a date after the last SPY price or no prices: nothing
written; or some portfolio-dates failed, or left a position out for want of a fresh
price: the others, and those figures, are stored), 2 usage or
configuration error (nothing written), 130 interrupted (the whole portfolio-dates stored
before are kept).
"""

from __future__ import annotations

import app.core.interrupts  # noqa: F401  (first: Ctrl-C while the rest loads is one line)

# isort: split
import argparse
import asyncio
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import NullPool

from app.config import get_settings
from app.core.cli import (
    EXIT_DATA_ERROR,
    EXIT_OK,
    iso_date,
    print_json,
    print_table,
    run_command,
    uuid_arg,
)
from app.core.db import create_engine_for
from app.core.errors import InvalidQueryError
from app.core.types import DateRange
from app.formulas.beta import MIN_OBSERVATIONS
from app.formulas.book import DEFAULT_BETA_WINDOW
from app.portfolios.repository import ANY_OWNER
from app.risk_metrics import runs
from app.risk_metrics.backfill import CHUNK_DATES, CHUNK_ROWS
from app.risk_metrics.calculation import HISTORY_DAYS, PortfolioRiskSummary
from app.risk_metrics.service import SectorTilts, largest_tilts
from app.risk_metrics.store import RemovedFigures

T = TypeVar("T")


def _stored_line(run: runs.RunResult) -> str:
    """What Ctrl-C prints: the whole portfolio-dates kept."""
    if not run.summaries:
        return "interrupted: nothing stored"
    days = sorted({s.calc_date for s in run.summaries})
    return (
        f"interrupted: {len(run.summaries)} whole portfolio-dates stored "
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
    parser.add_argument(
        "--stale",
        action="store_true",
        help="recompute the dates changes of a book made out of date, and clear their marks "
        "(a --from/--to run through the last SPY price clears those it covers whole)",
    )
    parser.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD", help="one date")
    parser.add_argument("--from", dest="start", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument("--portfolio", type=uuid_arg, metavar="UUID", help="only this portfolio")
    parser.add_argument(
        "--window-days",
        type=int,
        default=DEFAULT_BETA_WINDOW,
        help=f"trading days of returns for betas and factor exposures (default %(default)s, "
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
    if args.stale and (args.delete or args.date is not None or args.start or args.end):
        parser.error("--stale finds its own dates: give no --date, --from/--to or --delete")
    if args.date is not None and (args.start or args.end):
        parser.error("give either --date or --from/--to, not both")
    if args.date is None and not (args.start and args.end) and not args.stale:
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


async def _with_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    # NullPool: the run ends with asyncio.run(); pooled connections would outlive its loop.
    engine = create_engine_for(poolclass=NullPool)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


async def _run_and_compare(
    engine: AsyncEngine, args: argparse.Namespace, run: runs.RunResult, err: Console
) -> tuple[runs.StaleOutcome | None, dict[uuid.UUID, SectorTilts]]:
    stale = await _run(engine, args, run, err)
    return stale, {} if run.interrupted else await _tilts(engine, run)


async def _tilts(engine: AsyncEngine, run: runs.RunResult) -> dict[uuid.UUID, SectorTilts]:
    """Each portfolio's largest sector tilts on the last date the run stored for it."""
    async with AsyncSession(engine) as session:
        return {
            last.portfolio_id: await largest_tilts(
                session, last.portfolio_id, owner=ANY_OWNER, day=last.calc_date
            )
            for last, _ in _last_by_portfolio(run)
        }


async def _run(
    engine: AsyncEngine, args: argparse.Namespace, run: runs.RunResult, err: Console
) -> runs.StaleOutcome | None:
    if args.stale:
        stale = await runs.plan_stale(engine, args.portfolio)
        total = sum(len(days) for _, days in stale.marks)
        with _progress(err) as progress:
            task = progress.add_task("portfolio-dates", total=total)
            return await runs.run_stale(
                engine,
                stale,
                run,
                beta_window=args.window_days,
                jobs=args.jobs,
                chunk_dates=args.chunk_dates,
                progress=_shown(progress, task),
            )
    start, end = _dates(args)
    single = args.date is not None
    plan = await runs.plan_run(
        engine,
        start,
        end,
        single=single,
        only=args.portfolio,
        names=("--date", "--date") if single else ("--from", "--to"),
    )
    with _progress(err) as progress:
        task = progress.add_task("portfolio-dates", total=len(plan.portfolios) * len(plan.dates))
        await runs.run_plan(
            engine,
            plan,
            run,
            beta_window=args.window_days,
            jobs=args.jobs,
            chunk_dates=args.chunk_dates,
            progress=_shown(progress, task),
        )
    return None if single else await runs.clear_covered_marks(engine, plan, run)


def _progress(err: Console) -> Progress:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=err, transient=True, disable=not err.is_terminal)


def _shown(progress: Progress, task: TaskID) -> runs.Progress:
    def show(name: str, day: date | None, settled: int) -> None:
        label = f"{name[:28]:<28}" + ("" if day is None else f" {day}")
        progress.update(task, description=label, advance=settled)

    return show


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _last_by_portfolio(
    run: runs.RunResult,
) -> list[tuple[PortfolioRiskSummary, list[PortfolioRiskSummary]]]:
    """(summary of the last date, all its summaries) per portfolio, in run order."""
    by_portfolio: dict[uuid.UUID, list[PortfolioRiskSummary]] = {}
    for s in run.summaries:
        by_portfolio.setdefault(s.portfolio_id, []).append(s)
    return [(max(items, key=lambda s: s.calc_date), items) for items in by_portfolio.values()]


def _active(pair: tuple[str, float] | None) -> dict[str, Any] | None:
    return None if pair is None else {"sector": pair[0], "active_weight": pair[1]}


def _exit_code(run: runs.RunResult) -> int:
    """1 when a portfolio-date failed or a position was left out of its figures (its
    prices are missing or too old: loading them and re-running finishes the job)."""
    left_out = any(s.excluded for s in run.summaries)
    return EXIT_DATA_ERROR if run.failures or left_out else EXIT_OK


def _as_json(run: runs.RunResult, tilts: dict[uuid.UUID, SectorTilts]) -> dict[str, Any]:
    code = _exit_code(run)
    return {
        "status": "ok" if code == EXIT_OK else "error",
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
                **_tilts_json(tilts.get(last.portfolio_id)),
                "skipped": [{"item": what, "reason": why} for what, why in last.skipped],
                "excluded": [{"symbol": what, "reason": why} for what, why in last.excluded],
            }
            for last, items in _last_by_portfolio(run)
        ],
        "failures": [
            {"portfolio_name": name, "date": day, "error": message}
            for name, day, message in run.failures
        ],
    }


def _tilts_json(tilts: SectorTilts | None) -> dict[str, Any]:
    if tilts is None:
        tilts = SectorTilts(None)
    return {
        "benchmark_code": tilts.benchmark_code,
        "benchmark_weights_asof": tilts.asof_date,
        "largest_overweight": _active(tilts.over),
        "largest_underweight": _active(tilts.under),
        "benchmark_comparison_reason": tilts.reason,
    }


def _stale_json(stale: runs.StaleOutcome) -> dict[str, Any]:
    def marks(items: list[Any]) -> list[dict[str, Any]]:
        return [
            {"portfolio_id": m.portfolio_id, "portfolio_name": m.name, "stale_from": m.stale_from}
            for m in items
        ]

    return {"cleared": marks(stale.cleared), "kept": marks(stale.kept)}


def _table(run: runs.RunResult) -> Table:
    """One row per portfolio: rows written over the run, figures of its last date."""
    table = Table(title="Risk metrics stored", box=box.SIMPLE_HEAVY, title_justify="left")
    for col in ("Portfolio", "Dates", "Last date", "Positions", "Betas/Vols", "Beta cov."):
        table.add_column(col, justify="left" if col == "Portfolio" else "right")
    for col in ("Beta wtd", "Beta direct", "Vol 21d", "HAR 21d", "HHI", "Left out", "Skipped"):
        table.add_column(col, justify="right")
    for last, items in _last_by_portfolio(run):
        row = [
            last.portfolio_name,
            str(len(items)),
            last.calc_date.isoformat(),
            str(last.positions),
            f"{sum(s.betas_written for s in items)}/{sum(s.volatility_written for s in items)}",
            _fmt(last.beta_coverage, ".0%"),
            _fmt(last.market_beta_weighted, ".2f"),
            _fmt(last.market_beta_direct, ".2f"),
            _fmt(last.realized_volatility_21d, ".1%"),
            _fmt(last.expected_volatility_21d, ".1%"),
            _fmt(last.hhi, ",.0f"),
            str(len(last.excluded)),
            str(len(last.skipped)),
        ]
        table.add_row(*row)
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, err = Console(), Console(stderr=True)
    logging.basicConfig(level=logging.WARNING)
    run = runs.RunResult()
    return run_command(
        lambda: _report(args, run, out, err),
        err=err,
        interrupted="interrupted: nothing removed" if args.delete else lambda: _stored_line(run),
        json_out=out if args.json else None,
    )


def _report(args: argparse.Namespace, run: runs.RunResult, out: Console, err: Console) -> int:
    if args.delete:
        start, end = _dates(args)
        removed: RemovedFigures = asyncio.run(
            _with_engine(lambda engine: runs.delete_figures(engine, start, end, args.portfolio))
        )
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
    stale, tilts = asyncio.run(
        _with_engine(lambda engine: _run_and_compare(engine, args, run, err))
    )
    if run.interrupted:
        raise KeyboardInterrupt
    for name, day, message in run.failures:
        err.print(f"[red]failed:[/] {name} {day}: {message}", highlight=False, soft_wrap=True)
    if args.json:
        print_json(out, _as_json(run, tilts) | ({"stale": _stale_json(stale)} if stale else {}))
        return _exit_code(run)
    if run.summaries:
        print_table(out, _table(run))
    _print_tilts(run, tilts, out)
    _print_left_out(run, out)
    if stale is not None:
        if args.stale and not (stale.cleared or stale.kept):
            out.print("no stale marks: the figures of every portfolio are current")
        for mark in stale.cleared:
            out.print(
                f"{mark.name}: figures from {mark.stale_from} recomputed; stale mark cleared",
                highlight=False,
                soft_wrap=True,
            )
        for mark in stale.kept:
            out.print(
                f"{mark.name}: stale mark kept (a date failed, or the book changed while this "
                "ran): run --stale again",
                highlight=False,
                soft_wrap=True,
            )
    skipped = sum(len(s.skipped) for s in run.summaries)
    if args.verbose:
        for s in run.summaries:
            for symbol, reason in s.skipped:
                out.print(f"  skipped {s.portfolio_name} {s.calc_date} {symbol}: {reason}")
    elif skipped:
        out.print(f"{skipped} figures skipped (a reason for each with --verbose)")
    return _exit_code(run)


def _print_tilts(run: runs.RunResult, tilts: dict[uuid.UUID, SectorTilts], out: Console) -> None:
    """One line per portfolio: its benchmark, and its largest sector over/underweight on
    its last date, or why there is no comparison."""
    for last, _ in _last_by_portfolio(run):
        t = tilts.get(last.portfolio_id)
        if t is None:
            continue
        who = (
            last.portfolio_name
            if t.benchmark_code is None
            else (f"{last.portfolio_name} vs {t.benchmark_code}")
        )
        if t.over is not None and t.under is not None:
            (hi, hv), (lo, lv) = t.over, t.under
            line = (
                f"{who} (weights of {t.asof_date}): most over {hi} {hv:+.1%}, "
                f"most under {lo} {lv:+.1%}"
            )
        else:
            line = f"{who}: {t.reason}"
        out.print(line, highlight=False, markup=False)


def _print_left_out(run: runs.RunResult, out: Console) -> None:
    """Name each position left out of a portfolio's last date, and what to do."""
    lines = [
        f"left out of {last.portfolio_name} on {last.calc_date}: {symbol}: {reason}"
        for last, _ in _last_by_portfolio(run)
        for symbol, reason in last.excluded
    ]
    dates = sum(1 for s in run.summaries if s.excluded)
    if not dates:
        return
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
    out.print(
        f"{dates} portfolio-dates leave positions out for want of a fresh price (more than "
        f"{get_settings().stale_price_trading_days} trading days old, or none): their "
        "coverage and concentration count them as uncovered. Load their prices "
        "(scripts/load_prices.py) and run this again.",
        highlight=False,
        soft_wrap=True,
    )


if __name__ == "__main__":
    sys.exit(main())
