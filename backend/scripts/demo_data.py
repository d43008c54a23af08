"""Load the synthetic demo: 3 portfolios, 63 positions, ~2 years of factor-model prices.

    cd backend
    uv run python scripts/demo_data.py
    uv run python scripts/calculate_risk_metrics.py --date 2025-10-17

The portfolios belong to demo@example.com, created when missing: its generated password is
printed then, once (reset it with scripts/manage_users.py set-password). The portfolio ids
are printed for the API (GET /api/v1/portfolios/{id}/risk, signed in as that user).
Idempotent: a second run leaves the same rows. No API key or network needed.
Exit codes: 0 ok, 1 database error (nothing written), 2 configuration error,
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
    DemoSummary,
    load_demo_benchmark_weights,
    load_demo_data,
)
from app.users.service import Account, ensure_user


async def _run() -> tuple[DemoSummary, tuple[SectorWeights, bool], Account]:
    async with AsyncSessionLocal() as session, session.begin():
        owner = await ensure_user(session, DEMO_EMAIL)
        summary = await load_demo_data(session, owner_id=owner.user.id)
        return summary, await load_demo_benchmark_weights(session), owner


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="demo_data.py",
        description="Load synthetic demo portfolios (owned by demo@example.com), positions, "
        "profiles and prices.",
        epilog="Exit codes: 0 ok, 1 database error (nothing written), 2 configuration error.",
    ).parse_args(argv)
    out, err = Console(), Console(stderr=True)
    return run_command(lambda: _report(out), err=err)


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
        f"Next: uv run python scripts/calculate_risk_metrics.py --date {DEMO_END.isoformat()}"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
