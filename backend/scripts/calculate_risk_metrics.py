"""Compute and store market betas, sector/concentration and volatility.

    cd backend
    uv run python scripts/calculate_risk_metrics.py --date 2025-10-17
    uv run python scripts/calculate_risk_metrics.py --date 2025-10-17 --portfolio <uuid>
    uv run python scripts/calculate_risk_metrics.py --from 2025-09-01 --to 2025-10-17

Writes position_market_betas, position_volatility and the risk columns of
portfolio_snapshots (creating the snapshot row when missing), one transaction per
portfolio and date; re-running a date replaces its figures.

``--json`` prints the result (or the error) as one JSON object on stdout.
Exit codes: 0 ok, 1 data error (some portfolio-dates failed; the others are stored),
2 usage or configuration error (nothing written), 130 interrupted (the portfolio-dates
completed before are stored).
"""

from __future__ import annotations

import app.core.interrupts  # noqa: F401  (first: Ctrl-C while the rest loads is one line)

# isort: split
import argparse
import asyncio
import logging
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
from app.market_data.repository import MissingMarketDataError
from app.portfolios.repository import PortfolioNotFoundError
from app.risk.beta import MIN_OBSERVATIONS
from app.risk.book import DEFAULT_BETA_WINDOW
from app.risk_metrics.batch import dates_to_run, portfolios_to_run, shared_history
from app.risk_metrics.engine import HISTORY_DAYS, PortfolioRiskSummary, calculate_portfolio_risk


@dataclass
class _Run:
    summaries: list[PortfolioRiskSummary] = field(default_factory=list)
    failures: list[tuple[str, date, str]] = field(default_factory=list)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="calculate_risk_metrics.py",
        description="Compute and upsert position betas, position volatility and portfolio "
        "snapshot risk figures for a date or a date range.",
        epilog="Exit codes: 0 ok, 1 data error (some portfolio-dates failed), "
        "2 usage/config error, 130 interrupted (completed portfolio-dates are kept).",
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
    if not MIN_OBSERVATIONS <= args.window_days <= MAX_WINDOW_DAYS:
        parser.error(
            f"--window-days must be between {MIN_OBSERVATIONS} (fewer observations are never "
            f"estimated) and {MAX_WINDOW_DAYS} (the returns in the {HISTORY_DAYS} trading days "
            f"of prices the engine reads)"
        )
    return args


MAX_WINDOW_DAYS = HISTORY_DAYS - 1
"""Returns in the engine's price history: a longer window could never be filled."""


async def _run(args: argparse.Namespace, err: Console) -> _Run:
    single = args.date is not None
    start, end = (args.date, args.date) if single else (args.start, args.end)
    async with AsyncSessionLocal() as session:
        try:
            portfolios = await portfolios_to_run(session, args.portfolio)
        except PortfolioNotFoundError as exc:
            raise CommandError(EXIT_USAGE_ERROR, str(exc)) from None
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

    run = _Run()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("portfolio-dates", total=len(portfolios) * len(dates))
        for portfolio_id, name in portfolios:
            for day in dates:
                progress.update(task, description=f"{name[:28]:<28} {day}")
                await _one(run, portfolio_id, name, day, history, args.window_days)
                progress.advance(task)
    return run


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
    return run_command(
        lambda: _report(args, out, err),
        err=err,
        interrupted="interrupted: the portfolio-dates completed before Ctrl-C are stored",
        json_out=out if args.json else None,
    )


def _report(args: argparse.Namespace, out: Console, err: Console) -> int:
    run = asyncio.run(_run(args, err))
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
