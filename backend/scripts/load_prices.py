"""Load end-of-day prices, splits and dividends, and security profiles (sector, ETF flag)
for the risk engine.

    cd backend
    uv run python scripts/load_prices.py --fmp SPY AAPL MSFT --from 2023-10-01 --to 2025-10-17
    uv run python scripts/load_prices.py --csv prices.csv --profiles-csv profiles.csv

Each price is stored twice: the close as traded and the total-return close (app.prices).
``--fmp`` asks FMP for both series and each symbol's splits and dividends, over the dates
asked widened to the dates already stored for it from FMP, so that its whole history is
on FMP's scale of today. FMP needs FMP_API_KEY (backend/.env or the environment); CSV needs
nothing. Everything is fetched and validated first, then written in one transaction: on
any error nothing is.
One symbol's prices (and its profile) come from one source: a load of symbols whose rows
come from another source (the demo's, a CSV's, FMP's) is refused, nothing written, unless
``--replace-source``, which deletes those symbols' rows of the other source first.
``--json`` prints the result (or the error) as one JSON object on stdout.
Exit codes: 0 ok, 1 data or API error (nothing written), 2 usage or configuration error,
130 interrupted (nothing written).
"""

from __future__ import annotations

import app.core.interrupts  # noqa: F401  (first: Ctrl-C while the rest loads is one line)

# isort: split
import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.config import get_settings
from app.core.cli import (
    EXIT_OK,
    iso_date,
    print_json,
    print_table,
    progress_bar,
    run_command,
)
from app.core.db import AsyncSessionLocal
from app.core.errors import InvalidQueryError
from app.core.input_files import FieldError
from app.core.types import DateRange
from app.factors.definitions import factor_symbols
from app.integrations.fmp.client import FmpClient
from app.models import DailyPrice, SecurityProfile
from app.prices.actions import upsert_actions
from app.prices.history import SymbolHistory, replace_history
from app.prices.loaders import (
    PriceFile,
    fetch_fmp_histories,
    fetch_fmp_profiles,
    normalise_symbol,
    read_price_csv,
    read_profile_csv,
    resolve_price_file,
)
from app.prices.repository import ProfileRow, price_tails, upsert_prices, upsert_profiles
from app.prices.sources import (
    OtherSourceError,
    StoredRows,
    other_source_rows,
    take_over_symbols,
)

OFFLINE_HINT = "Offline, use --csv/--profiles-csv (or scripts/demo_data.py for synthetic data)."


@dataclass
class _Batch:
    csv: PriceFile | None = None
    fmp: list[SymbolHistory] = field(default_factory=list)
    profiles: dict[str, list[ProfileRow]] = field(default_factory=dict)  # source -> rows
    fmp_requests: int = 0


@dataclass
class _Written:
    prices: dict[str, list[tuple[str, date]]] = field(default_factory=dict)  # source -> rows
    price_rows: int = 0
    actions: int = 0
    profiles: int = 0
    revised: dict[str, date] = field(default_factory=dict)  # symbol -> first changed day
    replaced: list[tuple[str, StoredRows]] = field(default_factory=list)
    """("prices" or "profile", the other source's rows of a symbol) deleted first."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="load_prices.py",
        description="Load daily prices (as traded and total return), splits and dividends, "
        "and security profiles from FMP or CSV files.",
        epilog="Exit codes: 0 ok, 1 data/API error (nothing written), 2 usage/config error, "
        "130 interrupted.",
    )
    parser.add_argument(
        "--csv",
        type=Path,
        metavar="PATH",
        help="prices CSV: symbol,date,close (as traded)[,adjusted_close (total return)]"
        "[,volume][,split (N:D)][,dividend (per share)]",
    )
    parser.add_argument("--profiles-csv", type=Path, metavar="PATH", help="profiles CSV")
    parser.add_argument(
        "--fmp",
        nargs="+",
        metavar="SYMBOL",
        help="symbols to fetch from FMP (both closes, splits, dividends; the dates already "
        "stored are asked again)",
    )
    parser.add_argument(
        "--factor-etfs",
        action="store_true",
        help="with or without --fmp: also fetch the style factors' ETFs from FMP "
        f"({' '.join(factor_symbols())}: app/factors/factors.toml)",
    )
    parser.add_argument("--from", dest="start", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=iso_date, metavar="YYYY-MM-DD")
    parser.add_argument(
        "--no-profiles", action="store_true", help="with --fmp: prices only, no profiles"
    )
    parser.add_argument(
        "--replace-source",
        action="store_true",
        help="replace the prices and profiles of these symbols stored from another source "
        "(deleted first); without it such a load is refused",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
    args = parser.parse_args(argv)
    if args.factor_etfs:
        args.fmp = [*(args.fmp or []), *factor_symbols()]
    if args.fmp is not None:
        try:
            args.fmp = sorted({normalise_symbol(s) for s in args.fmp})
        except FieldError as exc:
            parser.error(f"--fmp: a symbol {exc.problem}")
    if not (args.csv or args.profiles_csv or args.fmp):
        parser.error(
            "nothing to load: give --fmp SYMBOL..., --factor-etfs, --csv PATH or "
            "--profiles-csv PATH"
        )
    if args.fmp:
        args.end = args.end or date.today()
        # About two years before --to; from the first date there is for a --to near year 1.
        args.start = args.start or max(date.min + _DEFAULT_SPAN, args.end) - _DEFAULT_SPAN
        try:
            DateRange(args.start, args.end, names=("--from", "--to"))
        except InvalidQueryError as exc:
            parser.error(str(exc))
        if "SPY" not in args.fmp:
            print("note: SPY is the market index betas use; load it too", file=sys.stderr)
    return args


_DEFAULT_SPAN = timedelta(days=2 * 365 + 30)


async def _spans(args: argparse.Namespace) -> dict[str, tuple[date, date]]:
    """The dates to ask FMP for, per symbol: --from/--to, widened to those stored from FMP.
    Symbols stored from another source are refused here, before any request to FMP, or
    with --replace-source asked for --from/--to alone (their rows are replaced)."""
    async with AsyncSessionLocal() as session:
        others = await other_source_rows(session, DailyPrice, args.fmp, "FMP")
        if not args.replace_source:
            if others:
                raise OtherSourceError(DailyPrice, "FMP", others)
            if not args.no_profiles and (
                profiles := await other_source_rows(session, SecurityProfile, args.fmp, "FMP")
            ):
                raise OtherSourceError(SecurityProfile, "FMP", profiles)
        own = sorted(set(args.fmp) - {o.symbol for o in others})
        stored = await price_tails(session, own, 1)
    return {
        s: (
            min(args.start, stored[s].first) if s in stored else args.start,
            max(args.end, stored[s].last) if s in stored else args.end,
        )
        for s in args.fmp
    }


async def _fetch(args: argparse.Namespace, batch: _Batch, err: Console) -> None:
    settings = get_settings()
    steps = len(args.fmp) * (1 if args.no_profiles else 2)
    async with FmpClient.from_settings(settings, offline_hint=OFFLINE_HINT) as fmp:
        spans = await _spans(args)
        with progress_bar(err) as progress:
            task = progress.add_task("FMP", total=steps)
            batch.fmp = await fetch_fmp_histories(fmp, spans, lambda _: progress.advance(task))
            if not args.no_profiles:
                batch.profiles["FMP"] = await fetch_fmp_profiles(
                    fmp, args.fmp, lambda _: progress.advance(task)
                )
        batch.fmp_requests = fmp.request_count


async def _write(batch: _Batch, replace_source: bool) -> _Written:
    written = _Written()
    async with AsyncSessionLocal() as session, session.begin():
        if batch.csv is not None:
            # One source per symbol first (refused, or the other source's rows deleted), so
            # that the file is checked against this source's prices and the actions recorded.
            taken_over = await take_over_symbols(
                session, DailyPrice, batch.csv.symbols(), "CSV", replace=replace_source
            )
            written.replaced += [("prices", r) for r in taken_over]
            rows, actions = await resolve_price_file(session, batch.csv)
            written.price_rows += (await upsert_prices(session, rows, "CSV")).rows
            written.actions += await upsert_actions(session, actions, "CSV")
            written.prices["CSV"] = [(r.symbol, r.date) for r in rows]
        for history in batch.fmp:
            replaced = await replace_history(
                session, history.rows, "FMP", replace_source=replace_source
            )
            written.price_rows += replaced.rows_written
            written.replaced += [("prices", r) for r in replaced.replaced]
            written.actions += await upsert_actions(session, history.actions, "FMP")
            written.prices.setdefault("FMP", []).extend((r.symbol, r.date) for r in history.rows)
            if replaced.changed_from is not None:
                written.revised[history.symbol] = replaced.changed_from
        for source, profile_rows in batch.profiles.items():
            profiles = await upsert_profiles(
                session, profile_rows, source, replace_source=replace_source
            )
            written.profiles += profiles.rows
            written.replaced += [("profile", r) for r in profiles.replaced]
    return written


async def _run(args: argparse.Namespace, err: Console) -> tuple[_Batch, _Written]:
    batch = _Batch()
    if args.csv:
        batch.csv = read_price_csv(args.csv)
    if args.profiles_csv:
        batch.profiles["CSV"] = read_profile_csv(args.profiles_csv)
    if args.fmp:
        await _fetch(args, batch, err)
    return batch, await _write(batch, args.replace_source)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, err = Console(), Console(stderr=True)
    return run_command(
        lambda: _report(args, out, err), err=err, json_out=out if args.json else None
    )


def _by_source(batch: _Batch, written: _Written) -> list[dict[str, Any]]:
    summary = []
    for source in sorted(set(written.prices) | set(batch.profiles)):
        rows = written.prices.get(source, [])
        profiles = batch.profiles.get(source, [])
        summary.append(
            {
                "source": source,
                "symbols": len({s for s, _ in rows} | {p.symbol for p in profiles}),
                "price_rows": len(rows),
                "from": min(d for _, d in rows) if rows else None,
                "to": max(d for _, d in rows) if rows else None,
                "profiles": len(profiles),
            }
        )
    return summary


def _report(args: argparse.Namespace, out: Console, err: Console) -> int:
    batch, written = asyncio.run(_run(args, err))
    prices, profiles = written.price_rows, written.profiles
    sources = _by_source(batch, written)
    revised = [{"symbol": s, "changed_from": d} for s, d in sorted(written.revised.items())]
    if args.json:
        print_json(
            out,
            {
                "status": "ok",
                "exit_code": EXIT_OK,
                "price_rows_written": prices,
                "actions_written": written.actions,
                "profiles_written": profiles,
                "sources": sources,
                "revised": revised,
                "fmp_requests": batch.fmp_requests,
                "replaced": [
                    {
                        "symbol": r.symbol,
                        "what": what,
                        "source": r.source,
                        "rows": r.rows,
                        "from": r.first,
                        "to": r.last,
                    }
                    for what, r in written.replaced
                ],
            },
        )
        return EXIT_OK
    table = Table(title="Loaded", title_justify="left")
    for col in ("Source", "Symbols", "Price rows", "From", "To", "Profiles"):
        table.add_column(col, justify="left" if col == "Source" else "right")
    for row in sources:
        table.add_row(
            row["source"],
            str(row["symbols"]),
            f"{row['price_rows']:,}",
            "-" if row["from"] is None else row["from"].isoformat(),
            "-" if row["to"] is None else row["to"].isoformat(),
            str(row["profiles"]),
        )
    print_table(out, table)
    for what, r in written.replaced:
        out.print(f"replaced the {what} of {r}", highlight=False, soft_wrap=True)
    out.print(
        f"{prices:,} price rows, {written.actions} splits and dividends and {profiles} "
        "profiles written"
    )
    if args.fmp:
        out.print(f"{batch.fmp_requests} requests to FMP")
    for item in revised:
        out.print(
            f"{item['symbol']}: stored prices changed from {item['changed_from']}: recompute "
            "the figures of portfolios holding it from that date"
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
