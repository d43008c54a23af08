"""Seed benchmarks_sector_weights with the GICS sector weights of the S&P 500 (default),
the NASDAQ-100 or the Dow Jones Industrial Average.

    cd backend
    uv run python scripts/seed_benchmark_weights.py             # fetch from FMP and write
    uv run python scripts/seed_benchmark_weights.py --benchmark NDX   # or DJIA
    uv run python scripts/seed_benchmark_weights.py --dry-run   # fetch and show, write nothing
    uv run python scripts/seed_benchmark_weights.py --from-file weights.json   # offline

``--json`` prints the result (or the error) as one JSON object on stdout.
Exit codes: 0 ok, 1 data or API error (nothing written), 2 usage or configuration error,
130 interrupted (nothing written).
"""

from __future__ import annotations

import app.core.interrupts  # noqa: F401  (first: Ctrl-C while the rest loads is one line)

# isort: split
import argparse
import asyncio
import logging
import sys
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import stamina
from rich import box
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from app.benchmarks.files import load_sector_weights_file
from app.benchmarks.repository import UpsertResult, upsert_sector_weights
from app.benchmarks.sources import fetch_sector_weights
from app.benchmarks.weights import (
    PRICE_WEIGHTED_BENCHMARKS,
    SUPPORTED_BENCHMARKS,
    BenchmarkDataError,
    SectorWeights,
)
from app.config import Settings, get_settings
from app.core.cli import (
    EXIT_DATA_ERROR,
    EXIT_OK,
    CommandError,
    print_json,
    print_table,
    progress_bar,
    run_command,
)
from app.core.db import AsyncSessionLocal
from app.core.redaction import RedactingFilter, secrets_of
from app.core.types import BENCHMARK_NAMES, DEFAULT_BENCHMARK
from app.integrations.fmp.client import FmpClient, FmpError, FmpRateLimitError

OFFLINE_HINT = "Without network access use --from-file PATH."

log = logging.getLogger("app.scripts.seed_benchmark_weights")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="seed_benchmark_weights.py",
        description="Fill benchmarks_sector_weights with the GICS sector weights of a "
        "benchmark index, from Financial Modeling Prep (FMP_API_KEY) or a file.",
        epilog="Exit codes: 0 ok, 1 data/API error (nothing written), 2 usage/config error, "
        "130 interrupted.",
    )
    parser.add_argument(
        "--benchmark",
        default=DEFAULT_BENCHMARK,
        choices=SUPPORTED_BENCHMARKS,
        help="benchmark to seed: "
        + ", ".join(f"{code} ({name})" for code, name in BENCHMARK_NAMES.items())
        + " (default: %(default)s)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="fetch and compute, print the table, write nothing",
    )
    parser.add_argument(
        "--from-file",
        type=Path,
        metavar="PATH",
        help="read constituents + market caps, or final weights, from a .json/.csv file "
        "instead of FMP (data_source becomes file:<source>)",
    )
    parser.add_argument("--verbose", action="store_true", help="log each request and detail")
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
    return parser.parse_args(argv)


def _configure_logging(err: Console, verbose: bool, secrets: list[str]) -> None:
    handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("app").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    def on_retry(details: stamina.instrumentation.RetryDetails) -> None:
        exc = details.caused_by
        where = f"/{exc.path}" if isinstance(exc, FmpError) and exc.path else "FMP request"
        log.warning(
            "%s: %s; retry %d in %.1f s",
            where,
            _brief(exc),
            details.retry_num,
            details.wait_for,
        )

    stamina.instrumentation.set_on_retry_hooks([on_retry])


def _brief(exc: BaseException) -> str:
    """A short reason for a retry line (the full message comes if the retries run out)."""
    if isinstance(exc, FmpRateLimitError):
        return f"rate limited (HTTP {exc.status})"
    if isinstance(exc, FmpError) and exc.status is not None:
        return f"HTTP {exc.status}"
    return "no answer (connection failed or timed out)"


def _fmt_cap(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _table(weights: SectorWeights, result: UpsertResult | None) -> Table:
    title = (
        f"{weights.benchmark_code} sector weights as of {weights.asof_date.isoformat()} "
        f"(source {weights.data_source})"
    )
    table = Table(
        title=title, box=box.SIMPLE_HEAVY, title_justify="left", show_edge=False, pad_edge=False
    )
    table.add_column("Sector")
    table.add_column("Weight", justify="right")
    table.add_column("Market cap (USD)", justify="right")
    table.add_column("Stocks", justify="right")
    if result:
        table.add_column("Change")
    for row in sorted(weights.rows, key=lambda r: (-r.weight, r.sector)):
        cells = [
            row.sector,
            f"{row.weight:.6f}",
            _fmt_cap(row.market_cap),
            "-" if row.num_constituents is None else str(row.num_constituents),
        ]
        table.add_row(*cells, *([result.status_of(row.sector)] if result else []))
    caps = [r.market_cap for r in weights.rows]
    counts = [r.num_constituents for r in weights.rows]
    table.add_section()
    table.add_row(
        "Total",
        f"{sum((r.weight for r in weights.rows), Decimal(0)):.6f}",
        "-" if None in caps else _fmt_cap(sum((c for c in caps if c is not None), Decimal(0))),
        "-" if None in counts else str(sum(c for c in counts if c is not None)),
        *([""] if result else []),
    )
    return table


def _describe_inputs(weights: SectorWeights) -> Iterable[str]:
    if weights.constituents is not None and weights.coverage is not None:
        what = "Prices" if weights.benchmark_code in PRICE_WEIGHTED_BENCHMARKS else "Market caps"
        yield (
            f"{what} for {weights.priced} of {weights.constituents} constituents "
            f"({weights.coverage:.2%}), {weights.companies} distinct companies."
        )
    yield from weights.notes


async def _load(args: argparse.Namespace, settings: Settings, err: Console) -> SectorWeights:
    if args.from_file is not None:
        return load_sector_weights_file(args.from_file, benchmark_code=args.benchmark)
    fmp_client = FmpClient.from_settings(settings, offline_hint=OFFLINE_HINT)
    with progress_bar(err) as progress:
        task = progress.add_task("Fetching from FMP (requests)", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        async with fmp_client as fmp:
            return await fetch_sector_weights(
                fmp, benchmark_code=args.benchmark, on_progress=advance
            )


async def _write(weights: SectorWeights) -> UpsertResult:
    # Database failures (unreachable, not migrated) are explained by run_command.
    async with AsyncSessionLocal() as session, session.begin():
        return await upsert_sector_weights(session, weights)


def _as_json(weights: SectorWeights, result: UpsertResult | None) -> dict[str, Any]:
    return {
        "status": "ok",
        "exit_code": EXIT_OK,
        "dry_run": result is None,
        "benchmark_code": weights.benchmark_code,
        "asof_date": weights.asof_date,
        "data_source": weights.data_source,
        "sectors": [
            {
                "sector": r.sector,
                "weight": r.weight,
                "market_cap": r.market_cap,
                "num_constituents": r.num_constituents,
                "change": result.status_of(r.sector) if result else None,
            }
            for r in sorted(weights.rows, key=lambda r: (-r.weight, r.sector))
        ],
        "written": None
        if result is None
        else {
            "inserted": list(result.inserted),
            "updated": list(result.updated),
            "unchanged": list(result.unchanged),
            "removed": list(result.removed),
        },
        "constituents": weights.constituents,
        "priced": weights.priced,
        "missing_symbols": list(weights.missing_symbols),
        "notes": list(_describe_inputs(weights)),
    }


async def _run(args: argparse.Namespace, settings: Settings, out: Console, err: Console) -> int:
    try:
        weights = await _load(args, settings, err)
    except FmpError as exc:
        raise CommandError(exc.exit_code, f"{exc}. Nothing was written.") from None
    except BenchmarkDataError as exc:
        problems = "\n  - ".join(exc.problems)
        raise CommandError(
            EXIT_DATA_ERROR, f"data rejected, nothing written:\n  - {problems}"
        ) from None
    for line in _describe_inputs(weights):
        err.print(escape(line))
    result = None if args.dry_run else await _write(weights)
    if args.json:
        print_json(out, _as_json(weights, result))
        return EXIT_OK
    print_table(out, _table(weights, result))
    if result is None:
        out.print("Dry run: nothing was written.")
        return EXIT_OK
    out.print(
        f"Wrote {weights.benchmark_code} {weights.asof_date.isoformat()}: "
        f"{len(result.inserted)} inserted, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged, {len(result.removed)} removed"
        + (f" ({', '.join(result.removed)})" if result.removed else "")
        + "."
    )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)  # exits 2 on usage errors
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    return run_command(
        lambda: _main(args, out, err),
        err=err,
        verbose=args.verbose,
        json_out=out if args.json else None,
    )


def _main(args: argparse.Namespace, out: Console, err: Console) -> int:
    settings = get_settings()
    _configure_logging(err, args.verbose, secrets_of(settings))
    return asyncio.run(_run(args, settings, out, err))


if __name__ == "__main__":
    sys.exit(main())
