"""Price, action and profile loading: CSV files and FMP (a fake FMP over HTTP), into
PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import FileArgumentError, FileDataError
from app.factors.definitions import factor_symbols
from app.integrations.fmp.client import FmpBadResponseError, FmpClient
from app.models import DailyPrice, SecurityProfile
from app.prices.actions import ActionRow, upsert_actions
from app.prices.loaders import (
    PriceDataError,
    fetch_fmp_histories,
    fetch_fmp_profiles,
    read_price_csv,
    read_profile_csv,
    resolve_price_file,
)
from app.prices.repository import PriceRow, upsert_prices, upsert_profiles
from devtools.databases import TestDatabase, subprocess_env
from devtools.processes import run_python
from tests.support.cli import CliRun, run_script, script_env
from tests.support.fake_fmp import FakeFmp
from tests.support.fake_fmp_market_data import (
    FakeMarket,
    FakeSecurity,
    fmp_profile,
    market_days,
    random_walk,
)

PRICES_CSV = """symbol,date,close,adjusted_close,volume
spy,2025-10-16,660.50,659.80,1000
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
    prices, _ = await resolve_price_file(
        session, read_price_csv(_write(tmp_path, "p.csv", PRICES_CSV))
    )
    profiles = read_profile_csv(_write(tmp_path, "s.csv", PROFILES_CSV))
    assert (await upsert_prices(session, prices, "CSV")).rows == 3
    assert (await upsert_profiles(session, profiles, "CSV")).rows == 3

    stored = {(r.symbol, r.date): r for r in await session.scalars(select(DailyPrice))}
    spy = stored[("SPY", date(2025, 10, 17))]
    assert (spy.close, spy.adjusted_close, spy.volume, spy.source) == (
        Decimal("664.390000"),
        Decimal("664.000000"),
        2000,
        "CSV",
    )
    assert ("SPY", date(2025, 10, 16)) in stored  # symbols are upper-cased
    aapl = stored[("AAPL", date(2025, 10, 17))]
    assert aapl.adjusted_close == aapl.close  # no adjusted_close, no action recorded
    sectors = {
        p.symbol: (p.sector, p.is_etf) for p in await session.scalars(select(SecurityProfile))
    }
    assert sectors == {
        "SPY": (None, True),
        "AAPL": ("Information Technology", False),  # FMP label mapped to GICS
        "JPM": ("Financials", False),
    }

    changed, _ = await resolve_price_file(
        session,
        read_price_csv(_write(tmp_path, "p2.csv", "symbol,date,close\nAAPL,2025-10-17,250.00\n")),
    )
    await upsert_prices(session, changed, "CSV")
    assert await session.scalar(select(func.count()).select_from(DailyPrice)) == 3
    aapl = await session.scalar(
        select(DailyPrice.close)
        .where(DailyPrice.symbol == "AAPL")
        .execution_options(populate_existing=True)
    )
    assert aapl == Decimal("250.000000")


HEADER = "symbol,date,close\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("symbol,close\nSPY,1\n", "line 1: missing column(s) date (the header has 'symbol,close')"),
        (
            HEADER + "SPY,2025-10-17,1\nSPY,17/10/2025,2\n",
            "line 3, field date, symbol SPY: not a date (YYYY-MM-DD): '17/10/2025'",
        ),
        (HEADER + "SPY,20251017,1\n", "line 2, field date, symbol SPY: not a date"),
        (
            HEADER + "SPY,2025-10-17,-4\n",
            "line 2, field close, symbol SPY: must be a positive number, got '-4'",
        ),
        (HEADER + "SPY,2025-10-17,abc\n", "line 2, field close, symbol SPY: must be a number"),
        (HEADER + "SPY,2025-10-17,NaN\n", "line 2, field close, symbol SPY: must be a number"),
        (HEADER + "SPY,2025-10-17,0.0000001\n", "must be a positive number"),
        (HEADER + "SPY,2025-10-17,1e12\n", "'1e12' is too large (at most 1,000,000,000,000)"),
        (
            "symbol,date,close,volume\nSPY,2025-10-17,1,1.5\n",
            "line 2, field volume, symbol SPY: must be a whole number, got '1.5'",
        ),
        ("symbol,date,close,volume\nSPY,2025-10-17,1,99999999999999999999\n", "between 0 and"),
        (
            HEADER + "SPY,2025-10-17,1\nSPY,2025-10-17,2\n",
            "line 3, symbol SPY: 2025-10-17 appears more than once for this symbol (first on "
            "line 2)",
        ),
        (HEADER + ",2025-10-17,1\n", "line 2, field symbol: is empty"),
        (HEADER + "S P Y,2025-10-17,1\n", "line 2, field symbol: 'S P Y' is not a ticker"),
        (
            HEADER + "SPY,2025-10-17,1,\n",
            "line 2: 4 fields, but the header has 3 (a trailing comma?)",
        ),
        (HEADER + "SPY,2025-10-17\n", "line 2: 2 fields, but the header has 3"),
        ("symbol,date,close,date\nSPY,2025-10-17,1,x\n", "line 1: header names 'date' twice"),
        ("symbol,date,close,\nSPY,2025-10-17,1,\n", "line 1: header column 4 has no name"),
        (HEADER + 'SPY,"2025-10-17,1\n', "not valid CSV"),
        (
            HEADER + "SPY,2025-10-17,1\x00\n",
            "field close, symbol SPY: must be a number, got '1\\x00'",
        ),
        (
            HEADER + "SPY,2025-10-17," + "1" * 140_000 + "\n",
            "line 2: is not valid CSV (field larger",
        ),
        ("", "is empty: the header needs close,date,symbol"),
        (HEADER, "has a header but no data rows"),
        (
            "symbol,date,close,split\nXYZ,2025-10-17,1,4-1\n",
            "line 2, field split, symbol XYZ: must be N:D (4:1 for a four-for-one split)",
        ),
        (
            "symbol,date,close,split\nXYZ,2025-10-17,1,0:1\n",
            "field split, symbol XYZ: must be a positive",
        ),
        (
            "symbol,date,close,dividend\nXYZ,2025-10-17,1,-0.2\n",
            "field dividend, symbol XYZ: must not be negative",
        ),
        (
            "symbol,date,close,adjusted_close\nXYZ,2025-10-16,1,1\nXYZ,2025-10-17,1,\n",
            "line 3, field adjusted_close, symbol XYZ: adjusted_close is empty here but given on "
            "line 2: give it on every row of a symbol or on none",
        ),
    ],
)
def test_bad_price_csv_is_rejected_with_file_line_field_and_symbol(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _write(tmp_path, "bad.csv", body)
    with pytest.raises(FileDataError) as raised:
        read_price_csv(path)
    assert str(raised.value).startswith(f"{path}")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_file_that_is_not_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"symbol,date,close\nNESN.SW,2025-10-17,1\nZ\xfcrich,2025-10-17,2\n")
    with pytest.raises(FileDataError) as raised:
        read_price_csv(path)
    assert str(raised.value) == (
        f"{path}, line 3, column 2: is not UTF-8 text (byte 0xfc): save it as UTF-8"
    )
    assert raised.value.exit_code == 1


@pytest.mark.parametrize(
    ("where", "message"),
    [("missing.csv", "no such file"), (".", "is a directory"), ("/dev/zero", "not a regular file")],
)
def test_a_path_that_is_no_file_is_a_usage_error(tmp_path: Path, where: str, message: str) -> None:
    with pytest.raises(FileArgumentError, match=message) as raised:
        read_price_csv(tmp_path / where)
    assert raised.value.exit_code == 2


# --- CSV: which close is which, and corporate actions -------------------------------------

ACTIONS_CSV = """symbol,date,close,dividend,split
XYZ,2025-01-02,100.00,,
XYZ,2025-01-03,102.00,1.00,
XYZ,2025-01-06,103.00,0,
"""


async def test_a_csv_without_adjusted_close_gets_close_times_the_recorded_actions_after_it(
    session: AsyncSession, tmp_path: Path
) -> None:
    rows, actions = await resolve_price_file(
        session, read_price_csv(_write(tmp_path, "p.csv", ACTIONS_CSV))
    )
    # The dividend of 1.00 on Jan 3 reinvested at Jan 2's close: 100 * (1 - 1/100) = 99.
    assert [(r.date.day, r.close, r.adjusted_close) for r in rows] == [
        (2, Decimal("100.00"), Decimal("99.000000")),
        (3, Decimal("102.00"), Decimal("102.000000")),
        (6, Decimal("103.00"), Decimal("103.000000")),
    ]
    assert actions == [ActionRow.dividend("XYZ", date(2025, 1, 3), Decimal("1.00"))]

    # A split recorded after the file's days (in the database): the file's total-return
    # closes join the later ones, a quarter of the traded closes.
    await upsert_actions(
        session, [ActionRow.split("XYZ", date(2025, 2, 3), Decimal(4), Decimal(1))], "FMP"
    )
    await upsert_prices(
        session, [PriceRow("XYZ", date(2025, 2, 3), Decimal(26), Decimal(26))], "FMP"
    )
    rows, _ = await resolve_price_file(
        session, read_price_csv(_write(tmp_path, "p.csv", ACTIONS_CSV))
    )
    assert [r.adjusted_close for r in rows] == [
        Decimal("24.750000"),
        Decimal("25.500000"),
        Decimal("25.750000"),
    ]


SPLIT_CSV = """symbol,date,close,split
XYZ,2025-06-06,400.00,
XYZ,2025-06-09,404.00,
XYZ,2025-06-10,101.50,4:1
XYZ,2025-06-11,102.00,
"""


async def test_a_close_that_falls_by_a_recorded_split_needs_an_adjusted_close(
    session: AsyncSession, tmp_path: Path
) -> None:
    path = _write(tmp_path, "split.csv", SPLIT_CSV)
    with pytest.raises(FileDataError) as raised:
        await resolve_price_file(session, read_price_csv(path))
    assert str(raised.value) == (
        f"{path}, line 4, symbol XYZ: close goes from 404.00 on 2025-06-09 to 101.50 on "
        "2025-06-10, the ex-date of a recorded 4:1 split: returns would read it as a -74.9% "
        "day; give this symbol an adjusted_close column (the total-return close)"
    )

    # Recorded in the database (by FMP, say) rather than in the file: the same refusal.
    await upsert_actions(
        session, [ActionRow.split("XYZ", date(2025, 6, 10), Decimal(4), Decimal(1))], "FMP"
    )
    no_column = _write(
        tmp_path,
        "plain.csv",
        SPLIT_CSV.replace(",split", "").replace(",4:1", "").replace("00,\n", "00\n"),
    )
    with pytest.raises(FileDataError, match=r"line 4, symbol XYZ: close goes from 404\.00"):
        await resolve_price_file(session, read_price_csv(no_column))

    # A close already split-adjusted (no fall) is not the close as traded either.
    smooth = _write(
        tmp_path, "smooth.csv", "symbol,date,close\nXYZ,2025-06-09,101.00\nXYZ,2025-06-10,101.50\n"
    )
    with pytest.raises(FileDataError, match="across a recorded 4:1 split it does not show"):
        await resolve_price_file(session, read_price_csv(smooth))

    # With its total-return close, the same file loads; the split is recorded.
    given = _write(
        tmp_path,
        "given.csv",
        "symbol,date,close,adjusted_close,split\n"
        "XYZ,2025-06-09,404.00,101.00,\nXYZ,2025-06-10,101.50,101.50,4:1\n",
    )
    rows, actions = await resolve_price_file(session, read_price_csv(given))
    assert [(r.close, r.adjusted_close) for r in rows] == [
        (Decimal("404.00"), Decimal("101.00")),
        (Decimal("101.50"), Decimal("101.50")),
    ]
    assert actions == [ActionRow.split("XYZ", date(2025, 6, 10), Decimal(4), Decimal(1))]


async def test_a_dividend_not_below_the_close_before_it_is_refused(
    session: AsyncSession, tmp_path: Path
) -> None:
    path = _write(
        tmp_path, "d.csv", "symbol,date,close,dividend\nXYZ,2025-01-02,5,\nXYZ,2025-01-03,6,5\n"
    )
    with pytest.raises(
        FileDataError,
        match="line 3, symbol XYZ: the dividend of 5 on 2025-01-03 "
        "is not less than the close before it",
    ):
        await resolve_price_file(session, read_price_csv(path))


@pytest.mark.usefixtures("clean_tables")
def test_cli_refuses_a_split_without_adjusted_close_and_writes_nothing(
    database: TestDatabase, tmp_path: Path
) -> None:
    path = _write(tmp_path, "split.csv", SPLIT_CSV)
    run = _cli(database, "--csv", str(path))
    assert run.code == 1, run.output
    assert run.stderr.strip().endswith(
        f"{path}, line 4, symbol XYZ: close goes from 404.00 on 2025-06-09 to 101.50 on "
        "2025-06-10, the ex-date of a recorded 4:1 split: returns would read it as a -74.9% "
        "day; give this symbol an adjusted_close column (the total-return close)"
    )
    assert _count(database, "daily_prices") == 0 and _count(database, "corporate_actions") == 0

    ok = _cli(database, "--csv", str(_write(tmp_path, "a.csv", ACTIONS_CSV)), "--json")
    assert ok.code == 0, ok.output
    assert json.loads(ok.stdout)["actions_written"] == 1
    assert _count(database, "corporate_actions") == 1


@pytest.mark.usefixtures("clean_tables")
def test_cli_fmp_widens_to_the_stored_dates_and_names_what_changed(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    """A second load after FMP rescaled AAPL's past (its dividend): the days stored by the
    first load are asked again, so the whole history is on one scale."""
    market = _september().serve(fake_fmp)
    market.asof = date(2025, 9, 12)
    fmp = {"FMP_API_KEY": fake_fmp.api_key, "FMP_BASE_URL": fake_fmp.base_url}
    first = _cli(
        database,
        "--fmp",
        "AAPL",
        "--from",
        "2025-09-01",
        "--to",
        "2025-09-12",
        "--no-profiles",
        **fmp,
    )
    assert first.code == 0, first.output
    market.asof = SEPTEMBER[-1]
    market.securities["AAPL"].revise(date(2025, 9, 10), Decimal("1.02"))
    fake_fmp.requests.clear()

    second = _cli(
        database,
        "--fmp",
        "AAPL",
        "--from",
        "2025-09-15",
        "--to",
        "2025-09-30",
        "--no-profiles",
        "--json",
        **fmp,
    )

    assert second.code == 0, second.output
    assert {r.query["from"] for r in fake_fmp.requests if "from" in r.query} == {"2025-09-01"}
    assert json.loads(second.stdout)["revised"] == [
        {"symbol": "AAPL", "changed_from": "2025-09-10"}
    ]
    security = market.securities["AAPL"]
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT date, close, adjusted_close FROM daily_prices ORDER BY date")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in stored] == [
        (d, security.traded(i), security.total_return[i]) for i, d in enumerate(SEPTEMBER)
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "symbol,sector\nXYZ,Crypto\n",
            "line 2, field sector, symbol XYZ: unknown sector label 'Crypto'",
        ),
        (
            "symbol,sector,is_etf\nXYZ,Energy,maybe\n",
            "field is_etf, symbol XYZ: must be true or false",
        ),
        (
            "symbol,sector\nAAPL,Technology\nMSFT,Technology\naapl,Energy\n",
            "line 4, symbol AAPL: appears more than once (first on line 2)",
        ),
        ("symbol,sector\n ,Energy\n", "line 2, field symbol: is empty"),
        (
            "symbol,sector,name\nXYZ,Energy," + "n" * 256 + "\n",
            "field name, symbol XYZ: is longer than 255",
        ),
    ],
)
def test_bad_profile_csv_is_rejected_with_file_line_field_and_symbol(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(FileDataError, match=re.escape(message)):
        read_profile_csv(_write(tmp_path, "bad.csv", body))


SEPTEMBER = market_days(date(2025, 9, 1), 22)


def _september() -> FakeMarket:
    """SPY and AAPL over September 2025; AAPL goes ex-dividend on the 15th."""
    spy = FakeSecurity("SPY", SEPTEMBER, random_walk(len(SEPTEMBER), seed=1, first=600))
    aapl = FakeSecurity(
        "AAPL",
        SEPTEMBER,
        random_walk(len(SEPTEMBER), seed=2, first=230),
        dividends={date(2025, 9, 15): Decimal("0.26")},
    )
    return FakeMarket(
        [spy, aapl],
        {"SPY": fmp_profile("SPY", "", is_etf=True), "AAPL": fmp_profile("AAPL", "Technology")},
    )


async def test_fmp_histories_hold_both_closes_and_the_actions_of_each_symbol(
    fake_fmp: FakeFmp,
) -> None:
    market = _september().serve(fake_fmp)
    spans = {"AAPL": (date(2025, 9, 8), date(2025, 9, 19)), "SPY": SEPTEMBER[:: len(SEPTEMBER) - 1]}
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url, backoff=0.01) as client:
        aapl, spy = await fetch_fmp_histories(client, spans)  # type: ignore[arg-type]
    assert [r.date for r in aapl.rows] == [
        d for d in SEPTEMBER if spans["AAPL"][0] <= d <= spans["AAPL"][1]
    ]
    security = market.securities["AAPL"]
    for row in aapl.rows:
        i = security.index(row.date)
        assert (row.close, row.adjusted_close) == (security.traded(i), security.total_return[i])
    # Before the ex-date the total-return close is below the traded one, after it equal.
    assert aapl.rows[0].adjusted_close < aapl.rows[0].close
    assert aapl.rows[-1].adjusted_close == aapl.rows[-1].close
    assert aapl.actions == [ActionRow.dividend("AAPL", date(2025, 9, 15), Decimal("0.26"))]
    assert len(spy.rows) == len(SEPTEMBER) and spy.actions == []
    asked = {(r.path, r.query.get("symbol")) for r in fake_fmp.requests}
    assert ("/stable/historical-price-eod/non-split-adjusted", "AAPL") in asked
    assert ("/stable/historical-price-eod/dividend-adjusted", "AAPL") in asked
    assert ("/stable/dividends", "AAPL") in asked and ("/stable/splits", "SPY") in asked
    request = next(r for r in fake_fmp.requests if r.query.get("symbol") == "AAPL")
    assert request.query == {"symbol": "AAPL", "from": "2025-09-08", "to": "2025-09-19"}


async def test_fmp_retries_a_transient_failure(fake_fmp: FakeFmp) -> None:
    _september().serve(fake_fmp)
    fake_fmp.fail_next(1, 503)
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url, backoff=0.01) as client:
        (got,) = await fetch_fmp_histories(client, {"SPY": (SEPTEMBER[0], SEPTEMBER[4])})
    assert len(got.rows) == 5
    assert len(fake_fmp.requests_to("historical-price-eod/dividend-adjusted")) == 2
    assert client.request_count == 5  # the 503, then two series, splits and dividends


async def test_fmp_bad_rows_and_missing_symbols_are_errors(fake_fmp: FakeFmp) -> None:
    market = _september().serve(fake_fmp)
    market.bad_payload.add("SPY")
    async with FmpClient(fake_fmp.api_key, fake_fmp.base_url, backoff=0.01) as client:
        with pytest.raises(FmpBadResponseError, match="SPY"):
            await fetch_fmp_histories(client, {"SPY": (SEPTEMBER[0], SEPTEMBER[-1])})
        with pytest.raises(PriceDataError, match="no prices for NONE"):
            await fetch_fmp_histories(client, {"NONE": (SEPTEMBER[0], SEPTEMBER[-1])})
        with pytest.raises(PriceDataError, match="no profile for NONE"):
            await fetch_fmp_profiles(client, ["NONE"])


async def test_fmp_profiles_map_sectors_to_gics_and_etfs_have_none(fake_fmp: FakeFmp) -> None:
    FakeMarket(
        profiles={
            "AAPL": fmp_profile("AAPL", "Technology"),
            "JPM": fmp_profile("JPM", "Financial Services"),
            "SPY": fmp_profile("SPY", "Financial Services", is_etf=True),
            "ODD": fmp_profile("ODD", "Conglomerates"),
        }
    ).serve(fake_fmp)
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


def _cli(database: TestDatabase, *args: str, **env: str) -> CliRun:
    return run_script("load_prices", *args, env=script_env(database.env_url, **env))


@pytest.mark.slow
@pytest.mark.usefixtures("clean_tables")
def test_cli_loads_from_fmp_and_never_prints_the_key(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    """End to end, as a user runs it: a child process against the fake FMP."""
    _september().serve(fake_fmp)
    result = run_python(
        [
            "scripts/load_prices.py",
            "--fmp",
            "SPY",
            "AAPL",
            "--from",
            "2025-09-01",
            "--to",
            "2025-09-30",
        ],
        subprocess_env(database, FMP_API_KEY=fake_fmp.api_key, FMP_BASE_URL=fake_fmp.base_url),
    )
    assert result.returncode == 0, result.stderr
    assert _count(database, "daily_prices") == 2 * len(SEPTEMBER)
    assert _count(database, "corporate_actions") == 1  # AAPL's dividend
    assert _count(database, "security_profiles") == 2
    assert "1 splits and dividends" in result.stdout
    assert "\n10 requests to FMP\n" in result.stdout  # 4 per symbol and its profile
    assert fake_fmp.api_key not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("clean_tables")
def test_cli_errors_write_nothing(
    database: TestDatabase, fake_fmp: FakeFmp, tmp_path: Path
) -> None:
    _september().serve(fake_fmp)
    fmp = {"FMP_API_KEY": fake_fmp.api_key, "FMP_BASE_URL": fake_fmp.base_url}
    no_key = _cli(database, "--fmp", "SPY")
    assert no_key.code == 2 and "FMP_API_KEY is not set" in no_key.stderr
    # SPY's prices come back, then ZZZ has none: the SPY rows must not be written either.
    partial = _cli(database, "--fmp", "SPY", "ZZZ", "--no-profiles", **fmp)
    assert partial.code == 1 and "no prices for ZZZ" in partial.stderr
    bad_csv = _write(tmp_path, "bad.csv", "symbol,date,close\nSPY,2025-10-17,1\nSPY,x,2\n")
    bad = _cli(database, "--csv", str(bad_csv))
    assert bad.code == 1 and f"{bad_csv}, line 3, field date, symbol SPY" in bad.stderr
    # A year-1 --to is no overflow: the default --from stops at the first date there is.
    ancient = _cli(database, "--fmp", "SPY", "--to", "0001-01-05", **fmp)
    assert ancient.code == 1, ancient.output
    assert "FMP has no prices for SPY between 0001-01-01 and 0001-01-05" in ancient.stderr
    assert _count(database, "daily_prices") == 0
    assert _count(database, "corporate_actions") == 0
    for run in (no_key, partial, bad, ancient):
        assert "Traceback" not in run.output
        assert fake_fmp.api_key not in run.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to load"),
        (["--fmp", " "], "--fmp: a symbol is empty"),
        (["--fmp", "SPY", "A B"], "--fmp: a symbol 'A B' is not a ticker"),
        (["--fmp", "SPY", "--to", "2025-13-01"], "not a date (YYYY-MM-DD): '2025-13-01'"),
        (["--fmp", "SPY", "--from", "2025-10-02", "--to", "2025-10-01"], "is after --to"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], message: str) -> None:
    run = _cli_without_database(*args)
    assert run.code == 2
    assert message in run.stderr
    assert "Traceback" not in run.output


def _cli_without_database(*args: str) -> CliRun:
    return run_script("load_prices", *args, env=script_env("postgresql://nobody@127.0.0.1:9/x"))


@pytest.mark.usefixtures("clean_tables")
def test_json_output_is_one_object_with_what_was_written(
    database: TestDatabase, tmp_path: Path
) -> None:
    prices = _write(tmp_path, "p.csv", PRICES_CSV)
    profiles = _write(tmp_path, "s.csv", PROFILES_CSV)
    run = _cli(database, "--csv", str(prices), "--profiles-csv", str(profiles), "--json")
    assert run.code == 0, run.output
    assert json.loads(run.stdout) == {
        "status": "ok",
        "exit_code": 0,
        "price_rows_written": 3,
        "actions_written": 0,
        "profiles_written": 3,
        "sources": [
            {
                "source": "CSV",
                "symbols": 3,
                "price_rows": 3,
                "from": "2025-10-16",
                "to": "2025-10-17",
                "profiles": 3,
            }
        ],
        "revised": [],
        "fmp_requests": 0,
        "replaced": [],
    }
    failed = _cli(database, "--csv", str(tmp_path / "none.csv"), "--json")
    assert failed.code == 2
    assert json.loads(failed.stdout) == {
        "status": "error",
        "exit_code": 2,
        "error": f"{tmp_path / 'none.csv'}: no such file",
    }


def _sources(database: TestDatabase) -> dict[str, set[str]]:
    """symbol -> the sources of its stored prices and profile."""
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT symbol, source FROM daily_prices UNION "
                    "SELECT symbol, source FROM security_profiles"
                )
            )
            found: dict[str, set[str]] = {}
            for symbol, source in rows:
                found.setdefault(symbol, set()).add(source)
            return found
    finally:
        engine.dispose()


@pytest.mark.usefixtures("clean_tables")
def test_a_csv_load_over_the_demos_prices_needs_replace_source(
    database: TestDatabase, tmp_path: Path
) -> None:
    demo = run_script("demo_data", env=script_env(database.env_url))
    assert demo.code == 0, demo.output
    prices = _write(tmp_path, "p.csv", PRICES_CSV)
    refused = _cli(database, "--csv", str(prices))
    assert refused.code == 1, refused.output
    assert "prices of 2 symbols are stored from another source: AAPL (504 rows from DEMO" in (
        refused.stderr
    )
    assert "--replace-source" in refused.stderr and "demo_data.py --remove" in refused.stderr
    assert _sources(database)["SPY"] == {"DEMO"}  # nothing written

    replaced = _cli(database, "--csv", str(prices), "--replace-source", "--json")
    assert replaced.code == 0, replaced.output
    body = json.loads(replaced.stdout)
    assert [(r["symbol"], r["what"], r["source"], r["rows"]) for r in body["replaced"]] == [
        ("AAPL", "prices", "DEMO", 504),
        ("SPY", "prices", "DEMO", 504),
    ]
    sources = _sources(database)
    # SPY's and AAPL's prices are the CSV's alone; their demo profiles and KO stay DEMO's.
    assert _count(database, "daily_prices WHERE symbol = 'SPY'") == 2
    assert sources["SPY"] == {"CSV", "DEMO"} and sources["KO"] == {"DEMO"}


@pytest.mark.usefixtures("clean_tables")
def test_an_fmp_load_over_csv_prices_and_profiles_needs_replace_source(
    database: TestDatabase, fake_fmp: FakeFmp, tmp_path: Path
) -> None:
    _september().serve(fake_fmp)
    fmp = {"FMP_API_KEY": fake_fmp.api_key, "FMP_BASE_URL": fake_fmp.base_url}
    loaded = _cli(
        database,
        "--csv",
        str(_write(tmp_path, "p.csv", PRICES_CSV)),
        "--profiles-csv",
        str(_write(tmp_path, "s.csv", PROFILES_CSV)),
    )
    assert loaded.code == 0, loaded.output
    args = ["--fmp", "SPY", "--from", "2025-09-01", "--to", "2025-09-05"]
    refused = _cli(database, *args, **fmp)
    assert refused.code == 1, refused.output
    assert "SPY (2 rows from CSV, 2025-10-16 .. 2025-10-17)" in refused.stderr
    assert "demo_data.py" not in refused.stderr  # the other source is no demo
    assert _sources(database)["SPY"] == {"CSV"}
    assert fake_fmp.requests == []  # refused before FMP is asked anything
    # Prices of FMP's own: the profile alone is another source's, and refused as well.
    profile_only = _cli(database, "--fmp", "JPM", *args[2:], **fmp)
    assert profile_only.code == 1, profile_only.output
    assert "profiles of 1 symbol are stored from another source: JPM (CSV)" in (
        profile_only.stderr.replace("\n", " ")
    )
    assert fake_fmp.requests == []
    replaced = _cli(database, *args, "--replace-source", **fmp)
    assert replaced.code == 0, replaced.output
    # The dates asked, not widened to the CSV's October ones that were replaced.
    assert {r.query.get("to") for r in fake_fmp.requests if "from" in r.query} == {"2025-09-05"}
    assert _count(database, "daily_prices WHERE symbol = 'SPY'") == 5
    assert "replaced the prices of SPY (2 rows from CSV, 2025-10-16 .. 2025-10-17)" in (
        replaced.stdout
    )
    assert "replaced the profile of SPY (CSV)" in replaced.stdout
    assert _sources(database)["SPY"] == {"FMP"}
    assert _sources(database)["AAPL"] == {"CSV"}


@pytest.mark.usefixtures("clean_tables")
def test_cli_factor_etfs_fetches_every_factor_etf_with_the_symbols_asked(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    etfs = factor_symbols()
    securities = [
        FakeSecurity(s, SEPTEMBER, random_walk(len(SEPTEMBER), seed=10 + n, first=100))
        for n, s in enumerate(sorted({*etfs, "AAPL"}))
    ]
    profiles = {s.symbol: fmp_profile(s.symbol, "", is_etf=True) for s in securities}
    FakeMarket(securities, profiles).serve(fake_fmp)
    fmp = {"FMP_API_KEY": fake_fmp.api_key, "FMP_BASE_URL": fake_fmp.base_url}
    run = _cli(
        database,
        "--fmp",
        "AAPL",
        "--factor-etfs",
        "--from",
        "2025-09-01",
        "--to",
        "2025-09-30",
        "--json",
        **fmp,
    )
    assert run.code == 0, run.output
    engine = create_engine(database.sync_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT symbol, count(*) FROM daily_prices GROUP BY symbol ORDER BY symbol")
            ).all()
    finally:
        engine.dispose()
    assert [(s, n) for s, n in stored] == [(s, len(SEPTEMBER)) for s in sorted({*etfs, "AAPL"})]
    assert "note: SPY" not in run.stderr  # the factors bring the market index too
