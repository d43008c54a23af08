"""Price and profile loading: CSV files and FMP (a fake FMP over HTTP), into PostgreSQL."""

from __future__ import annotations

import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.integrations.fmp.client import FmpBadResponseError, FmpClient
from app.market_data.loaders import (
    PriceDataError,
    fetch_fmp_prices,
    fetch_fmp_profiles,
    read_price_csv,
    read_profile_csv,
)
from app.market_data.repository import upsert_prices, upsert_profiles
from app.models import DailyPrice, SecurityProfile
from tests.support.databases import TestDatabase, subprocess_env
from tests.support.fake_fmp import FakeFmp
from tests.support.fake_fmp_market_data import fmp_profile, serve_market_data, weekday_closes
from tests.support.processes import run_python

PRICES_CSV = """symbol,date,close,adjusted_close,volume
spy,2025-10-16,660.50,,1000
SPY,2025-10-17,664.39,664.00,2000
AAPL,2025-10-17,252.29,,
"""
PROFILES_CSV = """symbol,sector,is_etf,name
SPY,,true,SPDR S&P 500 ETF Trust
AAPL,Technology,false,Apple Inc.
JPM,Financials,,JPMorgan Chase
"""


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


async def test_csv_prices_and_profiles_are_loaded_and_a_reload_replaces_values(
    session: AsyncSession, tmp_path: Path
) -> None:
    prices = read_price_csv(_write(tmp_path, "p.csv", PRICES_CSV))
    profiles = read_profile_csv(_write(tmp_path, "s.csv", PROFILES_CSV))
    assert await upsert_prices(session, prices, "CSV") == 3
    assert await upsert_profiles(session, profiles, "CSV") == 3

    stored = {(r.symbol, r.date): r for r in await session.scalars(select(DailyPrice))}
    spy = stored[("SPY", date(2025, 10, 17))]
    assert (spy.close, spy.adjusted_close, spy.volume, spy.source) == (
        Decimal("664.390000"),
        Decimal("664.000000"),
        2000,
        "CSV",
    )
    assert ("SPY", date(2025, 10, 16)) in stored  # symbols are upper-cased
    sectors = {
        p.symbol: (p.sector, p.is_etf) for p in await session.scalars(select(SecurityProfile))
    }
    assert sectors == {
        "SPY": (None, True),
        "AAPL": ("Information Technology", False),  # FMP label mapped to GICS
        "JPM": ("Financials", False),
    }

    changed = read_price_csv(
        _write(tmp_path, "p2.csv", "symbol,date,close\nAAPL,2025-10-17,250.00\n")
    )
    await upsert_prices(session, changed, "CSV")
    assert await session.scalar(select(func.count()).select_from(DailyPrice)) == 3
    aapl = await session.scalar(
        select(DailyPrice.close)
        .where(DailyPrice.symbol == "AAPL")
        .execution_options(populate_existing=True)
    )
    assert aapl == Decimal("250.000000")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("symbol,close\nSPY,1\n", "missing column(s) date"),
        ("symbol,date,close\nSPY,2025-10-17,1\nSPY,17/10/2025,2\n", "line 3: date must be"),
        ("symbol,date,close\nSPY,2025-10-17,-4\n", "line 2: close must be a positive"),
        ("symbol,date,close\nSPY,2025-10-17,abc\n", "line 2"),
        ("symbol,date,close\nSPY,2025-10-17,1\nSPY,2025-10-17,2\n", "more than once"),
        ("symbol,date,close\n", "no data rows"),
    ],
)
def test_bad_price_csv_is_rejected_with_file_and_line(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(PriceDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_price_csv(_write(tmp_path, "bad.csv", body))


def test_profile_csv_rejects_unknown_sector_and_bad_flags(tmp_path: Path) -> None:
    with pytest.raises(PriceDataError, match="line 2: unknown sector label 'Crypto'"):
        read_profile_csv(_write(tmp_path, "a.csv", "symbol,sector\nXYZ,Crypto\n"))
    with pytest.raises(PriceDataError, match="is_etf must be"):
        read_profile_csv(_write(tmp_path, "b.csv", "symbol,sector,is_etf\nXYZ,Energy,maybe\n"))


async def test_fmp_prices_come_back_oldest_first_within_the_range(fake_fmp: FakeFmp) -> None:
    rows = weekday_closes("AAPL", date(2025, 9, 1), 30, first=200.0)
    serve_market_data(fake_fmp, {"AAPL": rows}, {})
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url, backoff=0.01) as client:
        got = await fetch_fmp_prices(client, ["AAPL"], date(2025, 9, 8), date(2025, 9, 19))
    assert [r.date for r in got] == sorted(r.date for r in got)
    assert got[0].date == date(2025, 9, 8) and got[-1].date == date(2025, 9, 19)
    assert len(got) == 10
    # Sep 1 is the first weekday (close 200); Sep 8 is the 6th weekday.
    assert got[0].close == Decimal("205.0")
    (request,) = fake_fmp.requests_to("historical-price-eod/full")
    assert request.query == {"symbol": "AAPL", "from": "2025-09-08", "to": "2025-09-19"}


async def test_fmp_retries_a_transient_failure(fake_fmp: FakeFmp) -> None:
    serve_market_data(fake_fmp, {"SPY": weekday_closes("SPY", date(2025, 9, 1), 5, 600)}, {})
    fake_fmp.fail_next(1, 503)
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url, backoff=0.01) as client:
        got = await fetch_fmp_prices(client, ["SPY"], date(2025, 9, 1), date(2025, 9, 30))
    assert len(got) == 5
    assert len(fake_fmp.requests_to("historical-price-eod/full")) == 2


async def test_fmp_bad_rows_and_missing_symbols_are_errors(fake_fmp: FakeFmp) -> None:
    bad = weekday_closes("BAD", date(2025, 9, 1), 3, 10)
    bad[1]["close"] = -1
    serve_market_data(fake_fmp, {"BAD": bad}, {})
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url, backoff=0.01) as client:
        with pytest.raises(FmpBadResponseError, match="BAD"):
            await fetch_fmp_prices(client, ["BAD"], date(2025, 9, 1), date(2025, 9, 30))
        with pytest.raises(PriceDataError, match="no prices for NONE"):
            await fetch_fmp_prices(client, ["NONE"], date(2025, 9, 1), date(2025, 9, 30))
        with pytest.raises(PriceDataError, match="no profile for NONE"):
            await fetch_fmp_profiles(client, ["NONE"])


async def test_fmp_profiles_map_sectors_to_gics_and_etfs_have_none(fake_fmp: FakeFmp) -> None:
    serve_market_data(
        fake_fmp,
        {},
        {
            "AAPL": fmp_profile("AAPL", "Technology"),
            "JPM": fmp_profile("JPM", "Financial Services"),
            "SPY": fmp_profile("SPY", "Financial Services", is_etf=True),
            "ODD": fmp_profile("ODD", "Conglomerates"),
        },
    )
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url, backoff=0.01) as client:
        got = await fetch_fmp_profiles(client, ["AAPL", "JPM", "SPY", "ODD"])
    assert [(p.symbol, p.sector, p.is_etf) for p in got] == [
        ("AAPL", "Information Technology", False),
        ("JPM", "Financials", False),
        ("SPY", None, True),
        ("ODD", None, False),  # an unknown label is not guessed
    ]
    assert got[0].name == "AAPL Inc."


def _count(database: TestDatabase, table: str) -> int:
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
    finally:
        engine.dispose()


def _cli(database: TestDatabase, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(["scripts/load_prices.py", *args], subprocess_env(database, **env))


@pytest.mark.usefixtures("clean_tables")
def test_cli_loads_from_fmp_and_never_prints_the_key(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    serve_market_data(
        fake_fmp,
        {s: weekday_closes(s, date(2025, 9, 1), 20, 100) for s in ("SPY", "AAPL")},
        {"SPY": fmp_profile("SPY", "", is_etf=True), "AAPL": fmp_profile("AAPL", "Technology")},
    )
    result = _cli(
        database,
        "--fmp",
        "SPY",
        "AAPL",
        "--from",
        "2025-09-01",
        "--to",
        "2025-09-30",
        FMP_API_KEY=fake_fmp.api_key,
        FMP_BASE_URL=fake_fmp.base_url,
    )
    assert result.returncode == 0, result.stderr
    assert _count(database, "daily_prices") == 40
    assert _count(database, "security_profiles") == 2
    assert fake_fmp.api_key not in result.stdout + result.stderr


@pytest.mark.usefixtures("clean_tables")
def test_cli_errors_write_nothing(
    database: TestDatabase, fake_fmp: FakeFmp, tmp_path: Path
) -> None:
    serve_market_data(fake_fmp, {"SPY": weekday_closes("SPY", date(2025, 9, 1), 5, 100)}, {})
    no_key = _cli(database, "--fmp", "SPY")
    assert no_key.returncode == 2 and "FMP_API_KEY is not set" in no_key.stderr
    # SPY's prices come back, then AAPL has none: the SPY rows must not be written either.
    partial = _cli(
        database,
        "--fmp",
        "SPY",
        "AAPL",
        "--no-profiles",
        FMP_API_KEY=fake_fmp.api_key,
        FMP_BASE_URL=fake_fmp.base_url,
    )
    assert partial.returncode == 1 and "no prices for AAPL" in partial.stderr
    bad_csv = _write(tmp_path, "bad.csv", "symbol,date,close\nSPY,2025-10-17,1\nSPY,x,2\n")
    bad = _cli(database, "--csv", str(bad_csv))
    assert bad.returncode == 1 and "line 3" in bad.stderr
    assert _count(database, "daily_prices") == 0
    nothing = _cli(database)
    assert nothing.returncode == 2 and "nothing to load" in nothing.stderr
