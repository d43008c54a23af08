"""A --from/--to run stores exactly what date-by-date runs store, through COPY, in whole
dates; it resumes idempotently, gives the same rows with --jobs 2 and with its chunks
written over two connections, and stops cleanly on Ctrl-C (with one worker or two).

The data is the smallest book that exercises every case of the all-dates pass: positions
entering, leaving and expiring inside the range, two lots and an option on one series, a
series with holes, one whose prices stop, one too young for a HAR fit, one that lists in
the middle of the range, benchmark weights that change mid-range, a portfolio without
equity and an empty one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date

import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.config import BACKEND_DIR
from app.models import (
    BenchmarkSectorWeight,
    DailyPrice,
    Portfolio,
    Position,
    SecurityProfile,
)
from app.prices.demo import demo_calendar
from devtools.databases import TestDatabase, subprocess_env
from tests.support.cli import run_script

pytestmark = pytest.mark.usefixtures("clean_tables")

END = date(2025, 10, 17)
DAYS = 200  # trading days of prices: enough for betas and HAR fits, not for every series


def _calendar() -> list[date]:
    return demo_calendar(END, DAYS)  # the last DAYS weekdays up to END


CALENDAR = _calendar()
FROM, TO = CALENDAR[-12], CALENDAR[-1]  # 12 dates: chunks of 5, 5 and 2
MID = CALENDAR[-6]

# Every stored column except ids and timestamps, as text: equal text is equal to the
# column's scale (NUMERIC prints all its decimals).
_DUMP = """
SELECT 'b', portfolio_id::text, position_id::text, calc_date::text, concat_ws('|', beta,
  alpha, r_squared, std_error, p_value, observations, window_days, method, market_index)
FROM position_market_betas
UNION ALL
SELECT 'v', p.portfolio_id::text, position_id::text, calculation_date::text,
  concat_ws('|', realized_vol_21d, realized_vol_63d, vol_daily, vol_weekly, vol_monthly,
  expected_vol_21d, vol_trend, vol_trend_strength, vol_percentile, v.observations,
  model_r_squared)
FROM position_volatility v JOIN positions p ON p.id = v.position_id
UNION ALL
SELECT 's', portfolio_id::text, '', calculation_date::text,
  (to_jsonb(s) - 'id' - 'created_at' - 'updated_at')::text
FROM portfolio_snapshots s
ORDER BY 1, 2, 3, 4
"""

Dump = list[tuple[object, ...]]


def _prices() -> dict[str, list[tuple[date, float]]]:
    rng = np.random.default_rng(7)
    market = rng.normal(0.0004, 0.01, DAYS) * np.exp(np.cumsum(rng.normal(0, 0.05, DAYS)))
    out = {"SPY": 400 * np.cumprod(1 + market)}
    for symbol, beta in {"AAA": 1.3, "BBB": 0.7, "CCC": -0.2, "DDD": 1.0, "EEE": 0.5}.items():
        out[symbol] = 50 * np.cumprod(1 + beta * market + rng.normal(0, 0.012, DAYS))
    kept: dict[str, list[tuple[date, float]]] = {}
    for symbol, closes in out.items():
        rows = list(zip(CALENDAR, np.round(closes, 6).tolist(), strict=True))
        if symbol == "BBB":  # holes through the whole history
            rows = [r for i, r in enumerate(rows) if i % 4 != 1]
        elif symbol == "CCC":  # no price in the last 75 days: no vol, no beta
            rows = rows[:-75]
        elif symbol == "DDD":  # 75 days old: betas, but too young for HAR or percentile
            rows = rows[-75:]
        elif symbol == "EEE":  # lists inside the range: no price on its first dates
            rows = rows[-8:]
        kept[symbol] = rows
    return kept


def _seed(database: TestDatabase) -> None:
    engine = create_engine(database.sync_url)
    long_ago = CALENDAR[0]
    with engine.begin() as conn:
        conn.execute(
            pg_insert(DailyPrice),
            [
                {"symbol": s, "date": d, "close": p, "adjusted_close": p, "source": "DEMO"}
                for s, rows in _prices().items()
                for d, p in rows
            ],
        )
        sectors = {"AAA": "Information Technology", "BBB": "Energy", "CCC": "Utilities"}
        conn.execute(
            pg_insert(SecurityProfile),
            [
                {"symbol": s, "sector": sectors.get(s), "is_etf": s == "SPY", "source": "DEMO"}
                for s in ("SPY", "AAA", "BBB", "CCC", "DDD", "EEE")
            ],
        )
        conn.execute(
            pg_insert(BenchmarkSectorWeight),
            [
                {"benchmark_code": "SP500", "asof_date": day, "sector": sector, "weight": w}
                for day, weights in (
                    (CALENDAR[0], {"Information Technology": 0.5, "Energy": 0.5}),
                    (MID, {"Information Technology": 0.3, "Energy": 0.3, "Utilities": 0.4}),
                )
                for sector, w in weights.items()
            ],
        )
        with_equity, without, empty = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conn.execute(
            pg_insert(Portfolio),
            [
                {"id": with_equity, "name": "Book", "equity_balance": 100_000},
                {"id": without, "name": "No equity", "equity_balance": None},
                {"id": empty, "name": "Empty", "equity_balance": None},
            ],
        )
        position = {
            "entry_price": 50,
            "entry_date": long_ago,
            "position_type": "LONG",
            "underlying_symbol": None,
            "exit_date": None,
            "expiration_date": None,
        }
        conn.execute(
            pg_insert(Position),
            [
                {**position, "portfolio_id": with_equity, "symbol": "AAA", "quantity": 300},
                {**position, "portfolio_id": with_equity, "symbol": "AAA", "quantity": 100},
                {
                    **position,
                    "portfolio_id": with_equity,
                    "symbol": "AAA251010C00050000",
                    "underlying_symbol": "AAA",
                    "position_type": "LC",
                    "quantity": 2,
                    "expiration_date": CALENDAR[-9],  # expires inside the range
                },
                {
                    **position,
                    "portfolio_id": with_equity,
                    "symbol": "BBB",
                    "position_type": "SHORT",
                    "quantity": 400,
                },
                {**position, "portfolio_id": with_equity, "symbol": "CCC", "quantity": 200},
                {
                    **position,
                    "portfolio_id": with_equity,
                    "symbol": "DDD",
                    "quantity": 150,
                    "entry_date": MID,  # bought inside the range
                },
                {
                    **position,
                    "portfolio_id": with_equity,
                    "symbol": "EEE",
                    "quantity": 100,
                    "exit_date": CALENDAR[-2],  # sold before the last date
                },
                {**position, "portfolio_id": without, "symbol": "AAA", "quantity": 10},
                {
                    **position,
                    "portfolio_id": without,
                    "symbol": "BBB",
                    "position_type": "SHORT",
                    "quantity": 20,
                },
            ],
        )
    engine.dispose()


def _cli(database: TestDatabase, *args: str) -> None:
    run = run_script("calculate_risk_metrics", *args, env=subprocess_env(database))
    # CCC's prices stopped 75 trading days ago: every date leaves it out, named, and the
    # run says so with exit code 1 (its figures are stored all the same).
    assert run.code == 1, run.output
    assert "left out of Book on" in run.output and "CCC: last CCC price is of" in run.output


def _range(database: TestDatabase, start: date, end: date, *args: str) -> Dump:
    _cli(database, "--from", start.isoformat(), "--to", end.isoformat(), *args)
    return database.rows(_DUMP)


def _forget_figures(database: TestDatabase) -> None:
    database.rows("TRUNCATE position_market_betas, position_volatility, portfolio_snapshots")


def test_a_range_run_stores_every_column_as_date_by_date_runs_do(database: TestDatabase) -> None:
    _seed(database)
    by_range = _range(database, FROM, TO, "--chunk-dates", "5")
    assert len({r[3] for r in by_range}) == 12

    _forget_figures(database)
    for day in CALENDAR[-12:]:
        _cli(database, "--date", day.isoformat())
    assert database.rows(_DUMP) == by_range

    # The cases the data was built for are in what was compared: (betas, vols, HAR
    # forecasts, percentiles) stored per position over the 12 dates.
    figures = database.rows(
        "SELECT p.symbol, p.quantity::int,"
        " (SELECT count(*) FROM position_market_betas b WHERE b.position_id = p.id),"
        " count(v.id), count(v.expected_vol_21d), count(v.vol_percentile)"
        " FROM positions p LEFT JOIN position_volatility v ON v.position_id = p.id"
        " WHERE p.portfolio_id = (SELECT id FROM portfolios WHERE name = 'Book')"
        " GROUP BY p.id",
    )
    counts = {(symbol, qty): tuple(rest) for symbol, qty, *rest in figures}
    assert counts[("AAA", 300)] == counts[("AAA", 100)] == (12, 12, 12, 12)
    assert counts[("AAA251010C00050000", 2)] == (4, 4, 4, 4)  # held until it expired
    assert counts[("BBB", 400)] == (12, 0, 0, 0)  # holes: a beta, too few days for a vol
    assert counts[("CCC", 200)] == (0, 0, 0, 0)  # prices stopped: no beta, no vol
    assert counts[("DDD", 150)] == (6, 6, 0, 0)  # bought mid-range, young: NULLs
    assert counts[("EEE", 100)] == (0, 0, 0, 0)  # listed inside the range, then sold
    exposures = database.rows(
        "SELECT count(DISTINCT gross_exposure), bool_or(sector_exposure ? 'Utilities'),"
        " bool_and(beta_coverage < 1),"
        ' bool_and(excluded_positions @> \'[{"symbol": "CCC", "reason": "stale_price"}]\')'
        " FROM portfolio_snapshots s JOIN portfolios p ON p.id = s.portfolio_id"
        " WHERE p.name = 'Book'",
    )
    # CCC's last price is 75 trading days old on every date: it is left out of the
    # figures, named, and counted as exposure without a beta or a sector.
    assert exposures == [(12, False, True, True)]
    listing = database.rows(
        "SELECT calculation_date, e->>'reason' FROM portfolio_snapshots s"
        " JOIN portfolios p ON p.id = s.portfolio_id,"
        " jsonb_array_elements(s.excluded_positions) e"
        " WHERE p.name = 'Book' AND e->>'symbol' = 'EEE' ORDER BY 1",
    )
    assert listing == [(day, "no_price") for day in CALENDAR[-12:-8]]  # before it listed

    # A re-run of the range over stored figures changes nothing (idempotent).
    assert _range(database, FROM, TO) == by_range


def test_chunks_written_over_two_connections_store_what_one_chunk_stores(
    database: TestDatabase,
) -> None:
    _seed(database)
    one_chunk = _range(database, FROM, TO, "--chunk-dates", "21")  # one writer at work
    _forget_figures(database)
    assert _range(database, FROM, TO, "--chunk-dates", "1") == one_chunk  # 12 over 2


@pytest.mark.slow  # worker processes
def test_jobs_2_stores_the_same_rows_as_jobs_1(database: TestDatabase) -> None:
    _seed(database)
    one_job = _range(database, FROM, TO)
    _forget_figures(database)
    assert _range(database, FROM, TO, "--jobs", "2", "--chunk-dates", "4") == one_job


@pytest.mark.slow  # a child process, interrupted
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_after_a_chunk_leaving_whole_dates_and_a_rerun_completes(
    database: TestDatabase, jobs: str
) -> None:
    _seed(database)
    start = CALENDAR[-60]
    complete = _range(database, start, TO)
    _forget_figures(database)

    child = subprocess.Popen(
        [
            sys.executable,
            "scripts/calculate_risk_metrics.py",
            "--from",
            start.isoformat(),
            "--to",
            TO.isoformat(),
            "--chunk-dates",
            "1",
            "--jobs",
            jobs,
        ],
        cwd=BACKEND_DIR,
        env=subprocess_env(database),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while database.rows("SELECT count(*) FROM portfolio_snapshots") == [(0,)]:
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert stderr.strip().count("\n") == 0, stderr  # one line
    assert "whole portfolio-dates stored" in stderr and "Traceback" not in stderr

    # Whole dates only: each stored portfolio-date holds exactly its rows of a full run.
    stored = database.rows(_DUMP)
    days = {(r[1], r[3]) for r in stored if r[0] == "s"}
    assert 0 < len(days) < 3 * 60

    def of_stored_days(dump: Dump) -> Dump:
        return [r for r in dump if (r[1], r[3]) in days]

    assert of_stored_days(stored) == of_stored_days(complete)
    assert len(of_stored_days(complete)) == len(stored)

    assert _range(database, start, TO) == complete
