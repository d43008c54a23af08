"""Bring prices, splits and dividends, profiles, benchmark weights and every live
portfolio's figures current: the one command a scheduler runs after the close.

    cd backend
    uv run python scripts/refresh.py
    uv run python scripts/refresh.py --json

Asks FMP for SPY's last completed trading day first; when the stored prices already reach
it (a weekend, a holiday, a second run), nothing else is asked of FMP and only the figures
still due are computed. Otherwise each held series (a stock, an option's underlying) gets
the days since its last stored one, a new one its whole history (app.refresh.service).
``--through`` brings prices current through an earlier day (a first load as of a past
date); ``--catch-up`` asks for the symbols behind even when SPY has no new trading day (a
book imported on a weekend).

Exit codes: 0 everything current, 1 partial (what failed is named; running it again
finishes it), 2 usage or configuration error (nothing done), 3 another refresh is running
(nothing done), 130 interrupted: Ctrl-C stops after the symbol in flight (a second one at
once); whole symbols and whole portfolio-dates stored are kept.
"""

from __future__ import annotations

import app.core.interrupts  # noqa: F401  (first: Ctrl-C while the rest loads is one line)

# isort: split
import argparse
import asyncio
import logging
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from sqlalchemy.pool import NullPool

from app.config import get_settings
from app.core.cli import EXIT_BUSY, iso_date, print_json, progress_bar, run_command
from app.core.db import create_engine_for
from app.integrations.fmp.client import FmpClient
from app.prices.repository import MARKET_INDEX
from app.refresh.service import RefreshProgress, RefreshReport, refresh, refuse_future

OFFLINE_HINT = (
    "Offline, load prices with scripts/load_prices.py --csv and compute with "
    "scripts/calculate_risk_metrics.py."
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="refresh.py",
        description="Bring prices (as traded and total return), splits and dividends, "
        "profiles, benchmark sector weights and every live portfolio's figures current "
        "from FMP: one idempotent run after the close.",
        epilog="Exit codes: 0 all current, 1 partial (run again to finish), 2 usage/config "
        f"error, {EXIT_BUSY} another refresh is running, 130 interrupted (what is stored "
        "is whole).",
    )
    parser.add_argument(
        "--through",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="bring prices current through this day instead of the last completed New York "
        "session (figures go through the last stored SPY price)",
    )
    parser.add_argument(
        "--catch-up",
        action="store_true",
        help="ask FMP for the symbols behind even when SPY has no new trading day",
    )
    parser.add_argument("--verbose", action="store_true", help="log each symbol's outcome")
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
    return parser.parse_args(argv)


class _Bar(RefreshProgress):
    """The service's progress on a rich bar (stderr, a terminal only)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        super().__init__(stage=self._stage, step=self._step)

    def _stage(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description[:40], total=total)

    def _step(self, what: str) -> None:
        if self._task is not None:
            self._progress.advance(self._task)


@contextmanager
def _bar(err: Console) -> Iterator[_Bar]:
    with progress_bar(err) as progress:
        yield _Bar(progress)


async def _run(args: argparse.Namespace, report: RefreshReport, err: Console) -> None:
    settings = get_settings()
    client = FmpClient.from_settings(settings, offline_hint=OFFLINE_HINT)
    # NullPool: the run ends with asyncio.run(); pooled connections would outlive its loop.
    engine = create_engine_for(poolclass=NullPool)
    # Ctrl-C: stop after the symbol in flight (a second one stops at once).
    loop, main = asyncio.get_running_loop(), asyncio.current_task()

    def interrupt() -> None:
        if report.interrupted and main is not None:
            main.cancel()
        report.interrupted = True

    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        async with client:
            with _bar(err) as bar:
                await refresh(
                    engine,
                    client,
                    report,
                    through=args.through,
                    catch_up=args.catch_up,
                    progress=bar,
                )
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await engine.dispose()


def _interrupted(report: RefreshReport) -> str:
    """What Ctrl-C prints: what is stored (whole symbols, whole portfolio-dates)."""
    stored = [s for s in report.symbols if s.rows_written]
    dates = len(report.figures.run.summaries)
    return (
        f"interrupted: prices of {len(stored)} symbols and {dates} whole portfolio-dates "
        "stored; run again to finish"
    )


def _as_json(report: RefreshReport) -> dict[str, Any]:
    run = report.figures.run
    return {
        "status": "interrupted"
        if report.interrupted
        else ("partial" if report.failures() else "ok"),
        "exit_code": report.exit_code,
        "market_day": report.market_day,
        "stored_market_day": report.stored_market_day,
        "fetched": report.fetched,
        "fmp_requests": report.requests,
        "symbols": [
            {
                "symbol": s.symbol,
                "status": s.status,
                "last_date": s.last_date,
                "rows_written": s.rows_written,
                "new_from": s.new_from,
                "changed_from": s.changed_from,
                "actions_written": s.actions_written,
                "requests": s.requests,
                "reason": s.reason,
            }
            for s in report.symbols
        ],
        "profiles": [
            {"symbol": p.symbol, "status": p.status, "reason": p.reason} for p in report.profiles
        ],
        "sector_weights": None
        if report.weights is None
        else {
            "status": report.weights.status,
            "asof_date": report.weights.asof,
            "reason": report.weights.reason,
        },
        "marked_stale": [
            {"portfolio_name": m.portfolio_name, "symbol": m.symbol, "stale_from": m.stale_from}
            for m in report.marked
        ],
        "figures": {
            "through": report.figures.through,
            "portfolios": [
                {
                    "portfolio_id": due.portfolio_id,
                    "portfolio_name": due.name,
                    "from": due.start,
                    "dates_stored": sum(
                        1 for s in run.summaries if s.portfolio_id == due.portfolio_id
                    ),
                }
                for due in report.figures.due
            ],
            "dates_stored": len(run.summaries),
            "marks_cleared": report.figures.marks_cleared,
        },
        "no_prices": report.no_prices,
        "notes": report.notes,
        "failures": report.failures(),
    }


def _print(out: Console, report: RefreshReport) -> None:
    def line(text: str) -> None:
        out.print(escape(text), highlight=False, soft_wrap=True)

    day, stored = report.market_day, report.stored_market_day
    line(f"{MARKET_INDEX}: last trading day {day or '-'} (stored before: {stored or 'none'})")
    if report.symbols:
        counts = Counter(s.status for s in report.symbols)
        line(
            f"prices of {len(report.symbols)} symbols: "
            + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        )
        for s in report.symbols:
            if s.status == "reloaded" and s.changed_from is not None:
                line(f"  {s.symbol}: FMP's history changed from {s.changed_from}: reloaded")
            elif s.status in ("unknown", "other_source"):
                line(f"  {s.symbol}: {s.status}: {s.reason}")
    loaded = [p.symbol for p in report.profiles if p.status == "loaded"]
    if loaded:
        line(f"profiles loaded: {', '.join(loaded)}")
    if report.weights is not None:
        asof = report.weights.asof or "-"
        line(f"SP500 sector weights: {report.weights.status} (as of {asof})")
    for mark in report.marked:
        line(f"{mark.portfolio_name}: figures from {mark.stale_from} recomputed ({mark.symbol})")
    run = report.figures.run
    portfolios = len({s.portfolio_id for s in run.summaries})
    through = report.figures.through or "-"
    line(
        f"figures: {len(run.summaries)} portfolio-dates of {portfolios} portfolios stored "
        f"(current through {through})"
    )
    if report.no_prices:
        line(f"no prices (positions show no_prices): {', '.join(report.no_prices)}")
    for note in report.notes:
        line(f"note: {note}")
    failures = report.failures()
    for failure in failures:
        out.print(f"[bold red]failed:[/] {escape(failure)}", highlight=False, soft_wrap=True)
    line(f"{report.requests} requests to FMP")
    if failures:
        line(f"partial: {len(failures)} failed; run again to finish")
    else:
        line("everything current")


def _report(args: argparse.Namespace, report: RefreshReport, out: Console, err: Console) -> int:
    if args.through is not None:
        refuse_future(args.through)
    try:
        asyncio.run(_run(args, report, err))
    except asyncio.CancelledError:  # a second Ctrl-C
        raise KeyboardInterrupt from None
    if report.interrupted:
        raise KeyboardInterrupt  # run_command says what is stored
    if args.json:
        print_json(out, _as_json(report))
    else:
        _print(out, report)
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, err = Console(), Console(stderr=True)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    report = RefreshReport()
    return run_command(
        lambda: _report(args, report, out, err),
        err=err,
        interrupted=lambda: _interrupted(report),
        verbose=args.verbose,
        json_out=out if args.json else None,
    )


if __name__ == "__main__":
    sys.exit(main())
