"""Sector active weights and sector_exposure normalisation (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.portfolios.repository import ANY_OWNER
from app.risk_metrics.service import active_weights, normalise_exposure, portfolio_risk
from tests.support.factories import make_portfolio, snapshot_row


def test_active_weights_cover_both_sides_largest_overweight_first() -> None:
    portfolio = {"Energy": Decimal("0.50"), "Financials": Decimal("0.50")}
    benchmark = {"Financials": Decimal("0.20"), "Utilities": Decimal("0.10")}
    rows = active_weights(portfolio, benchmark)
    assert [(r.sector, r.portfolio_weight, r.benchmark_weight, r.active_weight) for r in rows] == [
        ("Energy", Decimal("0.50"), Decimal(0), Decimal("0.50")),
        ("Financials", Decimal("0.50"), Decimal("0.20"), Decimal("0.30")),
        ("Utilities", Decimal(0), Decimal("0.10"), Decimal("-0.10")),
    ]


def test_equal_active_weights_are_ordered_by_sector() -> None:
    rows = active_weights({"Materials": Decimal("0.1"), "Energy": Decimal("0.1")}, {})
    assert [r.sector for r in rows] == ["Energy", "Materials"]


def test_exposure_labels_become_gics_names_and_merge() -> None:
    # "Technology" (FMP) and "Information Technology" (GICS) are one sector.
    raw = {"Technology": 0.25, "Information Technology": 0.15, "Healthcare": 0.6}
    assert normalise_exposure(raw) == {
        "Information Technology": Decimal("0.40"),
        "Health Care": Decimal("0.6"),
    }


def test_exposure_keeps_unknown_labels_and_skips_non_numbers() -> None:
    raw = {"Cash": 0.1, "Energy": "0.2", "Utilities": None, "Materials": True, "Bad": "x"}
    assert normalise_exposure(raw) == {"Cash": Decimal("0.1"), "Energy": Decimal("0.2")}


async def test_a_benchmark_never_seeded_gives_a_reason_that_says_how_to_seed(
    session: AsyncSession,
) -> None:
    portfolio = await make_portfolio(session)
    session.add(snapshot_row(portfolio.id, date(2025, 10, 17), sector_exposure={"Energy": 1.0}))
    await session.flush()
    risk = await portfolio_risk(session, portfolio.id, owner=ANY_OWNER, benchmark_code=None)
    assert risk.benchmark_comparison is None
    assert risk.benchmark_comparison_reason == (
        "no SP500 sector weights are stored: seed them with scripts/seed_benchmark_weights.py "
        "(the demo's come with scripts/demo_data.py)"
    )
    # The demo seeds the S&P 500's weights only: another benchmark's reason says its own flag.
    portfolio.benchmark_code = "NDX"
    await session.flush()
    risk = await portfolio_risk(session, portfolio.id, owner=ANY_OWNER, benchmark_code=None)
    assert risk.benchmark_comparison_reason == (
        "no NDX sector weights are stored: seed them with scripts/seed_benchmark_weights.py "
        "--benchmark NDX"
    )
