"""scripts/refresh.py: its summary, --json and exit codes (0 current, 1 partial, 2 usage or
configuration, 3 another refresh running), against the fake FMP and PostgreSQL; and once
as a child process, end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from app.config import BACKEND_DIR
from app.factors.definitions import factor_symbols
from app.refresh.lock import REFRESH_LOCK_KEY
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.cli import CliRun, run_script, script_env
from tests.support.fake_fmp import STABLE, FakeFmp, FakeResponse, RecordedRequest
from tests.support.fake_fmp_market_data import (
    FakeMarket,
    FakeSecurity,
    fmp_profile,
    market_days,
    quarterly,
    random_walk,
)

pytestmark = pytest.mark.usefixtures("clean_tables")

DAYS = market_days(date(2024, 1, 1), 160)
ENTRY, FIRST = 120, 150
FACTOR_ETFS = tuple(s for s in factor_symbols() if s != "SPY")
SYMBOLS = sorted({"AAA", "BBB", "SPY", *FACTOR_ETFS})


def _market(fake: FakeFmp) -> FakeMarket:
    securities = [
        FakeSecurity(
            "SPY",
            DAYS,
            random_walk(len(DAYS), seed=1, first=400, vol=0.01),
            dividends=quarterly(DAYS, Decimal("1.50")),
        ),
        FakeSecurity("AAA", DAYS, random_walk(len(DAYS), seed=2)),
        FakeSecurity("BBB", DAYS, random_walk(len(DAYS), seed=3)),
        # The style factors' ETFs, which every refresh brings (FMP knows them).
        *(
            FakeSecurity(etf, DAYS, random_walk(len(DAYS), seed=10 + n))
            for n, etf in enumerate(FACTOR_ETFS)
        ),
    ]
    profiles = {s.symbol: fmp_profile(s.symbol, "Industrials") for s in securities}
    return FakeMarket(securities, profiles, asof=DAYS[FIRST]).serve(fake)


@pytest.fixture
def book(database: TestDatabase) -> Iterator[None]:
    database.rows(
        "WITH p AS (INSERT INTO portfolios (name, equity_balance) VALUES ('Core', 100000)"
        " RETURNING id)"
        " INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price,"
        " entry_date) SELECT p.id, s, 'LONG', 10, 100, :entry"
        " FROM p, unnest(ARRAY['AAA', 'BBB']) s",
        entry=DAYS[ENTRY],
    )
    yield


def _env(database: TestDatabase, fake: FakeFmp) -> dict[str, str]:
    return script_env(
        database.env_url,
        FMP_API_KEY=fake.api_key,
        FMP_BASE_URL=fake.base_url,
        FMP_RETRY_BACKOFF="0",
    )


def _refresh(database: TestDatabase, fake: FakeFmp, *args: str) -> CliRun:
    return run_script("refresh", *args, env=_env(database, fake))


@pytest.mark.usefixtures("book")
def test_json_says_what_was_stored_and_a_second_run_asks_one_question(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    _market(fake_fmp)
    first = _refresh(database, fake_fmp, "--json", "--through", DAYS[FIRST].isoformat())
    assert first.code == 0, first.output
    result = json.loads(first.stdout)
    assert result["status"] == "ok" and result["exit_code"] == 0
    assert {s["symbol"]: s["status"] for s in result["symbols"]} == dict.fromkeys(SYMBOLS, "loaded")
    assert result["figures"]["dates_stored"] == FIRST - ENTRY + 1
    assert result["fmp_requests"] == len(fake_fmp.requests)
    assert result["failures"] == []

    again = _refresh(database, fake_fmp, "--through", DAYS[FIRST].isoformat())
    assert again.code == 0, again.output
    assert "1 requests to FMP" in again.stdout and "everything current" in again.stdout
    assert "nothing else asked of FMP" in again.stdout


@pytest.mark.usefixtures("book")
def test_a_symbol_that_fails_makes_a_partial_run_that_names_it(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    market = _market(fake_fmp)
    market.not_found = {"BBB"}
    run = _refresh(database, fake_fmp, "--through", DAYS[FIRST].isoformat())
    assert run.code == 1, run.output
    assert "failed: BBB: FMP answered 404" in run.stdout
    assert "partial: 1 failed; run again to finish" in run.stdout
    # AAA, SPY and the factor ETFs are stored, and the figures computed.
    assert database.rows("SELECT count(DISTINCT symbol) FROM daily_prices") == [(len(SYMBOLS) - 1,)]

    market.not_found = set()
    rerun = _refresh(
        database, fake_fmp, "--json", "--catch-up", "--through", DAYS[FIRST].isoformat()
    )
    assert rerun.code == 0, rerun.output
    assert json.loads(rerun.stdout)["marked_stale"][0]["symbol"] == "BBB"


@pytest.mark.parametrize(
    ("args", "fmp_key", "message"),
    [
        (["--through", "2999-01-01"], True, "after the last completed session"),
        (["--through", "yesterday"], True, "YYYY-MM-DD"),
        ([], False, "FMP_API_KEY is not set"),
    ],
)
def test_usage_and_configuration_errors_exit_2_and_do_nothing(
    database: TestDatabase, fake_fmp: FakeFmp, args: list[str], fmp_key: bool, message: str
) -> None:
    env = _env(database, fake_fmp)
    if not fmp_key:
        env["FMP_API_KEY"] = ""
    run = run_script("refresh", *args, env=env)
    assert run.code == 2, run.output
    assert message in run.output
    assert fake_fmp.requests == []


def test_the_market_index_from_another_source_is_a_configuration_error(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    database.rows(
        "INSERT INTO daily_prices (symbol, date, close, adjusted_close, source)"
        " VALUES ('SPY', :day, 400, 400, 'DEMO')",
        day=DAYS[0],
    )
    run = _refresh(database, fake_fmp, "--json")
    assert run.code == 2, run.output
    assert "--replace-source" in json.loads(run.stdout)["error"]
    assert fake_fmp.requests == []


def test_a_second_refresh_exits_3_and_says_which_one_is_running(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as holder:
            holder.execute(text("SET application_name = 'refresh.py pid 777 on cron-host'"))
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": REFRESH_LOCK_KEY})
            holder.commit()
            run = _refresh(database, fake_fmp)
    finally:
        engine.dispose()
    assert run.code == 3, run.output
    assert "another refresh is running: refresh.py pid 777 on cron-host" in run.stderr
    assert fake_fmp.requests == []


@pytest.mark.slow
@pytest.mark.usefixtures("book")
def test_the_refresh_as_a_child_process_then_the_next_day(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    market = _market(fake_fmp)
    env = subprocess_env(
        database,
        FMP_API_KEY=fake_fmp.api_key,
        FMP_BASE_URL=fake_fmp.base_url,
        FMP_RETRY_BACKOFF="0",
        COLUMNS="120",
    )
    first = run_python(["scripts/refresh.py", "--through", DAYS[FIRST].isoformat()], env)
    assert first.returncode == 0, first.stderr
    assert f"prices of {len(SYMBOLS)} symbols: {len(SYMBOLS)} loaded" in first.stdout
    assert f"current through {DAYS[FIRST]}" in first.stdout

    market.asof = DAYS[FIRST + 1]
    nxt = run_python(["scripts/refresh.py", "--through", DAYS[FIRST + 1].isoformat()], env)
    assert nxt.returncode == 0, nxt.stderr
    assert "figures: 1 portfolio-dates of 1 portfolios stored" in nxt.stdout
    # The market's day, two calendars, one series per symbol: nothing per symbol beyond.
    assert f"{3 + len(SYMBOLS)} requests to FMP" in nxt.stdout
    days = database.rows("SELECT max(calculation_date), count(*) FROM portfolio_snapshots")
    assert days == [(DAYS[FIRST + 1], FIRST + 2 - ENTRY)]
    assert DAYS[FIRST + 1] - DAYS[FIRST] <= timedelta(days=3)


@pytest.mark.slow  # a child process, interrupted
@pytest.mark.usefixtures("book")
def test_ctrl_c_keeps_whole_symbols_and_a_rerun_finishes(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    market = _market(fake_fmp)
    for symbol in ("CCC", "DDD", "EEE", "FFF"):
        market.add(
            FakeSecurity(symbol, DAYS, random_walk(len(DAYS), seed=len(symbol) + ord(symbol[0])))
        )
    slow = f"{STABLE}/historical-price-eod/non-split-adjusted"
    serve = fake_fmp.handler_for(slow)

    def slowly(request: RecordedRequest) -> FakeResponse:
        time.sleep(0.4)
        return serve(request)

    fake_fmp.add_route(slow, slowly)
    database.rows(
        "INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price,"
        " entry_date) SELECT p.id, s, 'LONG', 10, 100, :entry FROM portfolios p,"
        " unnest(ARRAY['CCC', 'DDD', 'EEE', 'FFF']) s",
        entry=DAYS[ENTRY],
    )
    env = subprocess_env(database, FMP_API_KEY=fake_fmp.api_key, FMP_BASE_URL=fake_fmp.base_url)
    args = [sys.executable, "scripts/refresh.py", "--through", DAYS[FIRST].isoformat()]
    child = subprocess.Popen(
        args, cwd=BACKEND_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while database.rows("SELECT count(DISTINCT symbol) FROM daily_prices") < [(2,)]:
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr
    assert stderr.strip().count("\n") == 0 and "Traceback" not in stderr, stderr
    assert "interrupted: prices of" in stderr and "run again to finish" in stderr

    # Whole symbols only: each stored symbol has every day FMP serves, and no figures
    # were computed from a part of the prices.
    stored = database.rows("SELECT symbol, count(*) FROM daily_prices GROUP BY 1 ORDER BY 1")
    assert 2 <= len(stored) < len(SYMBOLS) + 4
    assert all(count == FIRST + 1 for _, count in stored), stored
    assert database.rows("SELECT count(*) FROM portfolio_snapshots") == [(0,)]

    fake_fmp.add_route(slow, serve)
    rerun = run_python(["scripts/refresh.py", "--through", DAYS[FIRST].isoformat()], env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert database.rows("SELECT count(DISTINCT symbol) FROM daily_prices") == [(len(SYMBOLS) + 4,)]
    assert database.rows("SELECT count(*) FROM portfolio_snapshots") == [(FIRST - ENTRY + 1,)]
