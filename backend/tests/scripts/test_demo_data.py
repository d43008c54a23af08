"""scripts/demo_data.py end to end: the spec's demo size, a factor model, idempotent, owned
by the demo user (created once, its password printed once)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from app.factors.definitions import factor_symbols
from app.prices.demo import (
    DEMO_DAYS,
    DEMO_EMAIL,
    DEMO_END,
    UNIVERSE,
    demo_calendar,
    demo_symbols,
    generate_factor_etf_prices,
    generate_prices,
)
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.cli import run_script, script_env

pytestmark = pytest.mark.usefixtures("clean_tables")


def _run(database: TestDatabase) -> subprocess.CompletedProcess[str]:
    return run_python(["scripts/demo_data.py"], subprocess_env(database))


def _counts(database: TestDatabase) -> dict[str, int]:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
                for t in (
                    "portfolios",
                    "positions",
                    "daily_prices",
                    "security_profiles",
                    "benchmarks_sector_weights",
                )
            }
    finally:
        engine.dispose()


@pytest.mark.slow
def test_loads_three_portfolios_63_positions_and_prices_and_a_rerun_changes_nothing(
    database: TestDatabase,
) -> None:
    first = _run(database)  # end to end: a child process
    assert first.returncode == 0, first.stderr
    counts = _counts(database)
    assert counts == {
        "portfolios": 3,
        "positions": 63,
        "daily_prices": DEMO_DAYS * len(demo_symbols()),
        "security_profiles": len(demo_symbols()),
        "benchmarks_sector_weights": 11,
    }
    second = run_script("demo_data", env=script_env(database.env_url))
    assert second.code == 0, second.stderr
    assert _counts(database) == counts
    assert "63" in first.stdout
    assert "SP500 sector weights as of 2025-06-30 loaded (file:demo (synthetic))" in first.stdout


def test_demo_weights_are_synthetic_dated_inside_the_prices_and_never_replace_real_ones(
    database: TestDatabase,
) -> None:
    engine = create_engine(database.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO benchmarks_sector_weights (benchmark_code, asof_date, sector, "
                    "weight, data_source) VALUES ('SP500', '2025-06-30', 'Energy', 1, 'FMP')"
                )
            )
        run = run_script("demo_data", env=script_env(database.env_url))
        assert run.code == 0, run.stderr
        assert (
            "Kept the SP500 weights of 2025-06-30 already stored from another source." in run.stdout
        )
        with engine.connect() as conn:
            kept = conn.execute(text("SELECT sector, data_source FROM benchmarks_sector_weights"))
            assert [tuple(r) for r in kept] == [("Energy", "FMP")]
            conn.execute(text("DELETE FROM benchmarks_sector_weights"))
            conn.commit()
        assert run_script("demo_data", env=script_env(database.env_url)).code == 0
        with engine.connect() as conn:
            dates, sources, total = conn.execute(
                text(
                    "SELECT array_agg(DISTINCT asof_date), array_agg(DISTINCT data_source), "
                    "sum(weight) FROM benchmarks_sector_weights WHERE benchmark_code = 'SP500'"
                )
            ).one()
    finally:
        engine.dispose()
    calendar = demo_calendar()
    assert len(dates) == 1 and calendar[0] <= dates[0] <= DEMO_END
    assert sources == ["file:demo (synthetic)"]
    assert total == 1


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
    first = run_script("demo_data", env=script_env(database.env_url))
    assert first.returncode == 0, first.stderr
    owners = _owners(database)
    assert [email for _, email in owners] == [DEMO_EMAIL] * 3
    for portfolio_id, _ in owners:  # printed for the API
        assert portfolio_id in first.stdout
    shown = [line for line in first.stdout.splitlines() if "password" in line]
    assert len(shown) == 1 and shown[0].startswith(f"Created user {DEMO_EMAIL}")

    again = run_script("demo_data", env=script_env(database.env_url))
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


def test_the_next_step_is_a_range_run_for_the_charts(database: TestDatabase) -> None:
    run = run_script("demo_data", env=script_env(database.env_url))
    assert run.code == 0, run.stderr
    (next_line,) = [line for line in run.stdout.splitlines() if line.startswith("Next")]
    assert next_line.endswith(
        "uv run python scripts/calculate_risk_metrics.py --from 2024-10-21 --to 2025-10-17"
    )
    assert "--date" not in run.stdout


def test_remove_takes_the_demo_out_in_one_go_and_says_what_went(database: TestDatabase) -> None:
    env = script_env(database.env_url)
    assert run_script("demo_data", env=env).code == 0
    engine = create_engine(database.sync_url)
    try:
        with engine.begin() as conn:  # a real price of another symbol stays
            conn.execute(
                text(
                    "INSERT INTO daily_prices (symbol, date, close, adjusted_close, source) "
                    "VALUES ('IBM', '2025-10-17', 250, 250, 'FMP')"
                )
            )
        removed = run_script("demo_data", "--remove", env=env)
        assert removed.code == 0, removed.output
        assert "Demo data removed" in removed.stdout
        assert f"{DEMO_DAYS * len(demo_symbols()):,}" in removed.stdout
        assert "removed portfolio 'Demo Growth Tech' (21 positions and its figures)" in (
            removed.stdout
        )
        assert f"removed user {DEMO_EMAIL}" in removed.stdout
        assert _counts(database) == {
            "portfolios": 0,
            "positions": 0,
            "daily_prices": 1,
            "security_profiles": 0,
            "benchmarks_sector_weights": 0,
        }
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0

        again = run_script("demo_data", "--remove", env=env)
        assert again.code == 0 and "No demo data found: nothing removed." in again.stdout

        # The demo then loads again, beside the real IBM price; over a real SPY it will not.
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO daily_prices (symbol, date, close, adjusted_close, source) "
                    "VALUES ('SPY', '2025-10-17', 664.39, 664.39, 'FMP')"
                )
            )
        refused = run_script("demo_data", env=env)
        assert refused.code == 1, refused.output
        assert "prices of SPY (1 row from FMP, 2025-10-17 .. 2025-10-17)" in refused.stderr
        assert _counts(database)["daily_prices"] == 2
    finally:
        engine.dispose()


def test_the_factor_etfs_move_as_their_factors_say_around_the_demo_market() -> None:
    prices = generate_prices()
    etfs = generate_factor_etf_prices(prices["SPY"])
    assert sorted(etfs) == sorted(set(factor_symbols()) - set(UNIVERSE))
    r = {s: np.diff(p) / p[:-1] for s, p in (prices | etfs).items()}
    # Size is IWM - SPY: its spread carries the market loading the demo gives it.
    size = r["IWM"] - r["SPY"]
    assert np.cov(size, r["SPY"])[0, 1] / np.var(r["SPY"], ddof=1) == pytest.approx(0.1, abs=0.05)
    # Low volatility leans against the market: USMV's beta is below one.
    usmv_beta = np.cov(r["USMV"], r["SPY"])[0, 1] / np.var(r["SPY"], ddof=1)
    assert usmv_beta == pytest.approx(0.75, abs=0.05)
    again = generate_factor_etf_prices(prices["SPY"])  # same seed, same numbers
    assert all(np.array_equal(etfs[s], again[s]) for s in etfs)
    assert all((p > 0).all() for p in etfs.values())
