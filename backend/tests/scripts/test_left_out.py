"""calculate_risk_metrics.py as a new user meets it: a book whose closes stopped six weeks
before the date asked and a symbol never loaded. The run names each position left out
with its reason, its beta coverage says so, and it exits 1; with fresh prices it exits 0.
``--date`` and ``--from/--to`` store the same figures."""

from __future__ import annotations

import json
import uuid
from datetime import date

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.models import DailyPrice, Portfolio, Position
from app.prices.demo import demo_calendar
from devtools.databases import TestDatabase, subprocess_env
from tests.support.cli import run_script

pytestmark = pytest.mark.usefixtures("clean_tables")

DAY = date(2025, 11, 28)
CALENDAR = demo_calendar(DAY, 150)
STOPPED = CALENDAR[-31]  # six weeks before DAY
STOCKS = ("AAA", "BBB", "CCC")


def _seed(database: TestDatabase, *, stale: bool) -> None:
    rng = np.random.default_rng(3)
    engine = create_engine(database.sync_url)
    rows = []
    for symbol in ("SPY", *STOCKS):
        closes = np.round(80 * np.cumprod(1 + rng.normal(0.0003, 0.011, len(CALENDAR))), 6)
        for day, close in zip(CALENDAR, closes.tolist(), strict=True):
            if stale and symbol != "SPY" and day > STOPPED:
                continue
            rows.append(
                {"symbol": symbol, "date": day, "close": close, "adjusted_close": close}
                | {"source": "CSV"}
            )
    portfolio = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(pg_insert(DailyPrice), rows)
        conn.execute(pg_insert(Portfolio), [{"id": portfolio, "name": "New user"}])
        conn.execute(
            pg_insert(Position),
            [
                {
                    "portfolio_id": portfolio,
                    "symbol": symbol,
                    "position_type": "LONG",
                    "quantity": 10,
                    "entry_price": 50,
                    "entry_date": CALENDAR[0],
                }
                for symbol in (*STOCKS, "NOPX")
            ],
        )
    engine.dispose()


def _dump(database: TestDatabase) -> list[tuple[object, ...]]:
    engine = create_engine(database.sync_url)
    try:
        with engine.begin() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT calculation_date, (to_jsonb(s) - 'id' - 'created_at'"
                        " - 'updated_at')::text FROM portfolio_snapshots s ORDER BY 1"
                    )
                )
            ]
    finally:
        engine.dispose()


def test_closes_six_weeks_old_are_named_not_used_and_the_run_exits_1(
    database: TestDatabase,
) -> None:
    _seed(database, stale=True)
    env = subprocess_env(database)
    run = run_script("calculate_risk_metrics", "--date", str(DAY), "--json", env=env)
    assert run.code == 1, run.output
    answer = json.loads(run.stdout)
    assert answer["status"] == "error" and answer["exit_code"] == 1
    (book,) = answer["portfolios"]
    assert book["betas_written"] == 0 and book["volatility_written"] == 0
    assert book["beta_coverage"] == 0.0  # nothing priced within 3 trading days
    assert book["hhi"] is None
    reasons = {e["symbol"]: e["reason"] for e in book["excluded"]}
    assert set(reasons) == {*STOCKS, "NOPX"}
    assert reasons["AAA"].startswith(f"last AAA price is of {STOPPED}, 30 trading days")
    assert reasons["NOPX"] == f"no NOPX price on or before {DAY}: no figures"

    table = run_script("calculate_risk_metrics", "--date", str(DAY), env=env)
    assert table.code == 1
    assert f"left out of New user on {DAY}: NOPX: no NOPX price" in table.output
    assert "Beta cov." in table.output and "100%" not in table.output


def test_fresh_closes_exit_0_and_a_range_stores_what_dates_store(database: TestDatabase) -> None:
    _seed(database, stale=False)
    env = subprocess_env(database)
    days = CALENDAR[-3:]
    by_range = run_script(
        "calculate_risk_metrics", "--from", str(days[0]), "--to", str(days[-1]), env=env
    )
    assert by_range.code == 1  # NOPX has no price: named on each date
    assert "left out of New user" in by_range.output and "NOPX" in by_range.output
    stored = _dump(database)
    assert len(stored) == 3 and all('"beta_coverage"' in row[1] for row in stored)
    engine = create_engine(database.sync_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM portfolio_snapshots"))
        conn.execute(text("DELETE FROM position_market_betas"))
        conn.execute(text("DELETE FROM position_volatility"))
        conn.execute(text("DELETE FROM positions WHERE symbol = 'NOPX'"))
    engine.dispose()
    for day in days:
        run = run_script("calculate_risk_metrics", "--date", str(day), env=env)
        assert run.code == 0, run.output
        assert "left out" not in run.output
    by_date = _dump(database)
    fresh_range = run_script(
        "calculate_risk_metrics", "--from", str(days[0]), "--to", str(days[-1]), env=env
    )
    assert fresh_range.code == 0, fresh_range.output
    assert _dump(database) == by_date
    assert all('"excluded_positions": null' in row[1] for row in by_date)
    assert all('"beta_coverage": 1.0000' in row[1] for row in by_date)
