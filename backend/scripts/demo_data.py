"""Load the synthetic demo: 3 portfolios, 63 positions, ~2 years of factor-model prices.

    cd backend
    uv run python scripts/demo_data.py
    uv run python scripts/calculate_risk_metrics.py --from 2024-10-21 --to 2025-10-17
    uv run python scripts/demo_data.py --remove

The portfolios belong to demo@example.com, created when missing: its generated password is
printed then, once (reset it with scripts/manage_users.py set-password). The portfolio ids
are printed for the API (GET /api/v1/portfolios/{id}/risk, signed in as that user).
Idempotent: a second run leaves the same rows. No API key or network needed. Its prices
and profiles are stored with source DEMO; it refuses to load while another source's
prices or profiles of its symbols are stored (a real SPY is never overwritten).
``--remove`` takes every demo row out in one transaction: DEMO prices and profiles, the
demo's synthetic benchmark weights, the demo user's portfolios (with their positions and
figures) and the demo user; rows of other sources stay.
Exit codes: 0 ok, 1 data or database error (nothing written), 2 configuration error,
130 interrupted (nothing written).
"""

from __future__ import annotations

import app.core.interrupts  # noqa: F401  (first: Ctrl-C while the rest loads is one line)

# isort: split
import argparse
import asyncio
import sys

from rich.console import Console
from rich.table import Table

from app.benchmarks.weights import SectorWeights
from app.core.cli import EXIT_OK, print_table, run_command
from app.core.db import AsyncSessionLocal
from app.prices.demo import (
    DEMO_EMAIL,
    DEMO_END,
    DEMO_FIGURES_FROM,
    DemoSummary,
    load_demo_benchmark_weights,
    load_demo_data,
)
from app.prices.demo_removal import DemoRemoved, remove_demo_data
from app.users.service import Account, ensure_user


async def _run() -> tuple[DemoSummary, tuple[SectorWeights, bool], Account]:
    async with AsyncSessionLocal() as session, session.begin():
        owner = await ensure_user(session, DEMO_EMAIL)
        summary = await load_demo_data(session, owner_id=owner.user.id)
        return summary, await load_demo_benchmark_weights(session), owner


async def _remove() -> DemoRemoved:
    async with AsyncSessionLocal() as session, session.begin():
        return await remove_demo_data(session)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="demo_data.py",
        description="Load synthetic demo portfolios (owned by demo@example.com), positions, "
        "profiles and prices; or take them out again with --remove.",
        epilog="Exit codes: 0 ok, 1 data or database error (nothing written), "
        "2 configuration error.",
    )
    parser.add_argument(
        "--remove",
        action="store_true",
        help="take every demo row out (DEMO prices and profiles, the synthetic benchmark "
        f"weights, {DEMO_EMAIL}'s portfolios and the user itself) in one transaction",
    )
    args = parser.parse_args(argv)
    out, err = Console(), Console(stderr=True)
    if args.remove:
        return run_command(lambda: _report_removed(out), err=err)
    return run_command(lambda: _report(out), err=err)


def _report_removed(out: Console) -> int:
    with out.status("Removing demo data..."):
        removed = asyncio.run(_remove())
    if removed.nothing:
        out.print("No demo data found: nothing removed.")
        return EXIT_OK
    table = Table(title="Demo data removed", title_justify="left")
    for col in ("Price rows", "Profiles", "Benchmark weights", "Portfolios", "Positions"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{removed.prices:,}",
        str(removed.profiles),
        str(removed.benchmark_weights),
        str(len(removed.portfolios)),
        str(sum(p.positions for p in removed.portfolios)),
    )
    print_table(out, table)
    for portfolio in removed.portfolios:
        out.print(
            f"removed portfolio {portfolio.name!r} ({portfolio.positions} positions and its "
            "figures)",
            highlight=False,
            soft_wrap=True,
        )
    if removed.user is not None:
        out.print(f"removed user {removed.user}", highlight=False)
    out.print("Prices, profiles and weights of other sources are untouched.")
    return EXIT_OK


def _report(out: Console) -> int:
    with out.status("Writing demo data..."):
        summary, (weights, weights_written), owner = asyncio.run(_run())
    table = Table(title="Demo data loaded (synthetic, fixed seed)", title_justify="left")
    for col in ("Portfolios", "Positions", "Symbols", "Price rows", "From", "To"):
        table.add_column(col, justify="right")
    table.add_row(
        str(summary.portfolios),
        str(summary.positions),
        str(summary.symbols),
        f"{summary.prices:,}",
        summary.first_date.isoformat(),
        summary.last_date.isoformat(),
    )
    print_table(out, table)
    ids = Table(title=f"Demo portfolios (owner {owner.user.email})", title_justify="left")
    ids.add_column("Portfolio")
    ids.add_column("Id")
    for name, portfolio_id in summary.portfolio_ids:
        ids.add_row(name, str(portfolio_id))
    print_table(out, ids)
    code, day = weights.benchmark_code, weights.asof_date
    if weights_written:
        out.print(f"{code} sector weights as of {day} loaded ({weights.data_source}).")
    else:
        out.print(f"Kept the {code} weights of {day} already stored from another source.")
    if owner.generated_password is not None:
        out.print(
            f"Created user {owner.user.email}; its password (shown once): "
            f"{owner.generated_password}",
            markup=False,
            highlight=False,
            soft_wrap=True,  # one line, never wrapped: it is meant to be copied
        )
    out.print(
        "Next, a year of daily figures for the dashboard's charts: uv run python "
        f"scripts/calculate_risk_metrics.py --from {DEMO_FIGURES_FROM} --to {DEMO_END}",
        highlight=False,
        soft_wrap=True,  # one line: it is meant to be copied
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
