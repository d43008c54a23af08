"""scripts/demo_data.py end to end: the spec's demo size, a factor model, idempotent, owned
by the demo user (created once, its password printed once)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from app.market_data.demo import DEMO_DAYS, DEMO_EMAIL, UNIVERSE, generate_prices
from tests.support.databases import TestDatabase, subprocess_env
from tests.support.processes import run_python

pytestmark = pytest.mark.usefixtures("clean_tables")


def _run(database: TestDatabase) -> subprocess.CompletedProcess[str]:
    return run_python(["scripts/demo_data.py"], subprocess_env(database))


def _counts(database: TestDatabase) -> dict[str, int]:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
                for t in ("portfolios", "positions", "daily_prices", "security_profiles")
            }
    finally:
        engine.dispose()


def test_loads_three_portfolios_63_positions_and_prices_and_a_rerun_changes_nothing(
    database: TestDatabase,
) -> None:
    first = _run(database)
    assert first.returncode == 0, first.stderr
    counts = _counts(database)
    assert counts == {
        "portfolios": 3,
        "positions": 63,
        "daily_prices": DEMO_DAYS * len(UNIVERSE),
        "security_profiles": len(UNIVERSE),
    }
    second = _run(database)
    assert second.returncode == 0, second.stderr
    assert _counts(database) == counts
    assert "63" in first.stdout


def _owners(database: TestDatabase) -> list[tuple[str, str]]:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT p.id::text, u.email FROM portfolios p "
                    "LEFT JOIN users u ON u.id = p.owner_id ORDER BY p.name"
                )
            )
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def test_demo_portfolios_belong_to_the_demo_user_whose_password_is_shown_once(
    database: TestDatabase,
) -> None:
    first = _run(database)
    assert first.returncode == 0, first.stderr
    owners = _owners(database)
    assert [email for _, email in owners] == [DEMO_EMAIL] * 3
    for portfolio_id, _ in owners:  # printed for the API
        assert portfolio_id in first.stdout
    shown = [line for line in first.stdout.splitlines() if "password" in line]
    assert len(shown) == 1 and shown[0].startswith(f"Created user {DEMO_EMAIL}")

    again = _run(database)
    assert again.returncode == 0, again.stderr
    assert "password" not in again.stdout
    assert _owners(database) == owners


def test_generated_prices_follow_the_factor_model() -> None:
    prices = generate_prices()
    r = {s: np.diff(p) / p[:-1] for s, p in prices.items()}
    # Same seed, same numbers.
    again = generate_prices()
    assert all(np.array_equal(prices[s], again[s]) for s in prices)
    # Betas recovered over the whole sample are close to the model's (noise is independent).
    for symbol in ("NVDA", "KO", "JPM"):
        true_beta = UNIVERSE[symbol][2]
        est = np.cov(r[symbol], r["SPY"])[0, 1] / np.var(r["SPY"], ddof=1)
        assert est == pytest.approx(true_beta, abs=0.25)
    # Same-sector names share a factor: more correlated than cross-sector names.
    same = np.corrcoef(r["XOM"], r["CVX"])[0, 1] - np.corrcoef(r["XOM"], r["KO"])[0, 1]
    assert same > 0.05
    assert all((p > 0).all() for p in prices.values())
