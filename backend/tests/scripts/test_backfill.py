"""A --from/--to run stores exactly what date-by-date runs store, through COPY, in whole
dates; it resumes idempotently, stops cleanly on Ctrl-C and gives the same rows with
--jobs 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest
from sqlalchemy import create_engine, text

from app.config import BACKEND_DIR
from app.market_data.demo import DEMO_END
from tests.support.databases import TestDatabase, subprocess_env
from tests.support.processes import run_python

pytestmark = pytest.mark.usefixtures("clean_tables")

FROM = "2025-09-10"  # 28 trading days to DEMO_END: several chunks of 7
TO = DEMO_END.isoformat()

# Every stored column except ids and timestamps, as text: equal text is equal to the
# column's scale (NUMERIC prints all its decimals).
_DUMP = """
SELECT 'b', portfolio_id::text, position_id::text, calc_date::text, concat_ws('|', beta,
  alpha, r_squared, std_error, p_value, observations, window_days, method, market_index)
FROM position_market_betas
UNION ALL
SELECT 'v', '', position_id::text, calculation_date::text, concat_ws('|', realized_vol_21d,
  realized_vol_63d, vol_daily, vol_weekly, vol_monthly, expected_vol_21d, vol_trend,
  vol_trend_strength, vol_percentile, observations, model_r_squared)
FROM position_volatility
UNION ALL
SELECT 's', portfolio_id::text, '', calculation_date::text,
  (to_jsonb(s) - 'id' - 'created_at' - 'updated_at')::text
FROM portfolio_snapshots s
ORDER BY 1, 2, 3, 4
"""

_DATE_BY_DATE = """
import asyncio, sys
from datetime import date
from app.core.db import AsyncSessionLocal
from app.risk_metrics.batch import dates_to_run, portfolios_to_run
from app.risk_metrics.engine import calculate_portfolio_risk

async def main() -> None:
    async with AsyncSessionLocal() as session:
        portfolios = await portfolios_to_run(session)
        days = await dates_to_run(
            session, date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2]),
            single=False,
        )
    for portfolio_id, _ in portfolios:
        for day in days:
            async with AsyncSessionLocal() as session, session.begin():
                await calculate_portfolio_risk(session, portfolio_id, day)

asyncio.run(main())
"""


def _sql(database: TestDatabase, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(database.sync_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _cli(database: TestDatabase, *args: str) -> subprocess.CompletedProcess[str]:
    return run_python(
        ["scripts/calculate_risk_metrics.py", *args], subprocess_env(database), timeout=600
    )


def _forget_figures(database: TestDatabase) -> None:
    _sql(database, "TRUNCATE position_market_betas, position_volatility, portfolio_snapshots")


def _with_gaps(database: TestDatabase) -> None:
    # Missing prices: a stock without its last week, one with holes through the range,
    # one without a price at all in the last 40 days (no vol, no beta for it at the end).
    held = _sql(
        database,
        "SELECT DISTINCT coalesce(underlying_symbol, symbol) FROM positions"
        " WHERE coalesce(underlying_symbol, symbol) <> 'SPY' ORDER BY 1 LIMIT 3",
    )
    (a,), (b,), (c,) = held
    _sql(
        database,
        f"DELETE FROM daily_prices WHERE (symbol = '{a}' AND date > '2025-10-10')"  # noqa: S608
        f" OR (symbol = '{b}' AND extract(day FROM date)::int % 3 = 0)"
        f" OR (symbol = '{c}' AND date > '2025-08-20')",
    )


@pytest.mark.parametrize("gaps", [False, True], ids=["demo", "gaps"])
def test_a_range_run_stores_every_column_as_date_by_date_runs_do(
    database: TestDatabase, gaps: bool
) -> None:
    assert run_python(["scripts/demo_data.py"], subprocess_env(database)).returncode == 0
    if gaps:
        _with_gaps(database)
    ranged = _cli(database, "--from", FROM, "--to", TO, "--chunk-dates", "7")
    assert ranged.returncode == 0, ranged.stderr
    by_range = _sql(database, _DUMP)
    assert len({r[3] for r in by_range}) == 28

    _forget_figures(database)
    one_by_one = run_python(["-c", _DATE_BY_DATE, FROM, TO], subprocess_env(database))
    assert one_by_one.returncode == 0, one_by_one.stderr
    assert _sql(database, _DUMP) == by_range

    # A re-run of the range over stored figures changes nothing (idempotent).
    again = _cli(database, "--from", FROM, "--to", TO)
    assert again.returncode == 0, again.stderr
    assert _sql(database, _DUMP) == by_range


def test_jobs_2_stores_the_same_rows_as_jobs_1(database: TestDatabase) -> None:
    assert run_python(["scripts/demo_data.py"], subprocess_env(database)).returncode == 0
    assert _cli(database, "--from", FROM, "--to", TO).returncode == 0
    one_job = _sql(database, _DUMP)
    _forget_figures(database)
    two_jobs = _cli(database, "--from", FROM, "--to", TO, "--jobs", "2")
    assert two_jobs.returncode == 0, two_jobs.stderr
    assert _sql(database, _DUMP) == one_job


def test_ctrl_c_stops_after_a_chunk_leaving_whole_dates_and_a_rerun_completes(
    database: TestDatabase,
) -> None:
    assert run_python(["scripts/demo_data.py"], subprocess_env(database)).returncode == 0
    assert _cli(database, "--from", FROM, "--to", TO).returncode == 0
    complete = _sql(database, _DUMP)
    _forget_figures(database)

    child = subprocess.Popen(
        [
            sys.executable,
            "scripts/calculate_risk_metrics.py",
            "--from",
            "2024-01-02",
            "--to",
            TO,
            "--chunk-dates",
            "5",
        ],
        cwd=BACKEND_DIR,
        env=subprocess_env(database),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _sql(database, "SELECT count(*) FROM portfolio_snapshots") == [(0,)]:
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert "whole portfolio-dates stored" in stderr and "Traceback" not in stderr
    # Whole dates only: every stored portfolio-date has all its rows (21 positions each).
    partial = _sql(
        database,
        "SELECT s.portfolio_id, s.calculation_date FROM portfolio_snapshots s"
        " WHERE (SELECT count(*) FROM position_market_betas b WHERE b.portfolio_id ="
        " s.portfolio_id AND b.calc_date = s.calculation_date) <> s.num_positions",
    )
    assert partial == []
    stored = _sql(database, "SELECT count(*) FROM portfolio_snapshots")[0][0]
    assert 0 < stored < 3 * 450  # type: ignore[operator]

    rerun = _cli(database, "--from", FROM, "--to", TO)
    assert rerun.returncode == 0, rerun.stderr
    dump = _sql(database, _DUMP)
    assert [r for r in dump if date.fromisoformat(str(r[3])) >= date(2025, 9, 10)] == complete
