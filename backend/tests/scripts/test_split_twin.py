"""A 4:1 split read right, end to end: the fake FMP serves a stock that splits 4 for 1 and
pays quarterly dividends, and its twin that never splits (the same returns, four times the
price after the split); prices go in through scripts/load_prices.py and the prices service,
figures come out of scripts/calculate_risk_metrics.py. The split stock's beta, volatility
and HAR forecast on every date after the split are those of its twin, to the stored scale.
Read from the close as traded instead, the split would be a -75 % day in every window
holding it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.integrations.fmp.client import FmpClient
from app.prices.sync import SymbolSync, plan_sync, run_sync
from devtools.databases import TestDatabase
from tests.support.cli import run_script, script_env
from tests.support.fake_fmp import FakeFmp
from tests.support.fake_fmp_market_data import (
    FakeMarket,
    FakeSecurity,
    fmp_profile,
    market_days,
    quarterly,
    random_walk,
)

DAYS = market_days(date(2024, 1, 1), 330)
SPLIT = 250  # the split's ex-date: DAYS[250]
FIRST_LOAD = 200  # the first load stops before it
BETA_COLUMNS = "beta, alpha, r_squared, std_error, p_value, observations"
VOL_COLUMNS = (
    "realized_vol_21d, realized_vol_63d, vol_daily, vol_weekly, vol_monthly, expected_vol_21d,"
    " vol_trend, vol_trend_strength, vol_percentile, observations, model_r_squared"
)


def _market() -> FakeMarket:
    spy = FakeSecurity(
        "SPY",
        DAYS,
        random_walk(len(DAYS), seed=11, first=450, vol=0.011),
        dividends=quarterly(DAYS, Decimal("1.7500"), first=40),
    )
    # The twin moves with the market (its own noise on top): a beta worth comparing.
    market_moves = [b / a for a, b in zip(spy.total_return, spy.total_return[1:], strict=False)]
    noise = random_walk(len(DAYS), seed=12, first=1.0, vol=0.012)
    closes, level = [], Decimal(120)
    for i in range(len(DAYS)):
        if i:
            level *= market_moves[i - 1] ** Decimal("1.3") * noise[i] / noise[i - 1]
        closes.append(level.quantize(Decimal("0.0001")))
    twin = FakeSecurity("TWIN", DAYS, closes, dividends=quarterly(DAYS, Decimal("0.8800")))
    split = twin.with_split("SPLT", DAYS[SPLIT], 4, 1)
    profiles = {s: fmp_profile(s, "Technology") for s in ("TWIN", "SPLT")}
    profiles["SPY"] = fmp_profile("SPY", "", is_etf=True)
    return FakeMarket([spy, twin, split], profiles)


async def _bring_current(database: TestDatabase, fake: FakeFmp, through: date) -> list[SymbolSync]:
    engine = create_async_engine(database.async_url, poolclass=NullPool)
    try:
        async with (
            FmpClient(fake.api_key, fake.base_url, backoff=0.001) as client,
            AsyncSession(engine, expire_on_commit=False) as session,
        ):
            plan = await plan_sync(session, client, ["SPY", "TWIN", "SPLT"], through=through)
            outcomes = [o async for o in run_sync(session, client, plan)]
            await session.commit()
        return outcomes
    finally:
        await engine.dispose()


@pytest.fixture
def book(database: TestDatabase) -> Iterator[None]:
    """A portfolio holding TWIN and SPLT since the first day."""
    database.rows(
        "WITH p AS (INSERT INTO portfolios (name, equity_balance) VALUES ('Twins', 100000)"
        " RETURNING id)"
        " INSERT INTO positions (portfolio_id, symbol, position_type, quantity, entry_price,"
        " entry_date) SELECT p.id, s, 'LONG', 100, 120, DATE '2024-01-01'"
        " FROM p, unnest(ARRAY['TWIN', 'SPLT']) s",
    )
    yield


def _figures(
    database: TestDatabase, table: str, columns: str, day: str
) -> dict[object, dict[str, tuple[object, ...]]]:
    rows = database.rows(
        f"SELECT f.{day}, p.symbol, {', '.join('f.' + c.strip() for c in columns.split(','))}"  # noqa: S608
        f" FROM {table} f JOIN positions p ON p.id = f.position_id ORDER BY 1, 2",
    )
    out: dict[object, dict[str, tuple[object, ...]]] = {}
    for row in rows:
        out.setdefault(row[0], {})[str(row[1])] = row[2:]
    return out


@pytest.mark.slow
@pytest.mark.usefixtures("clean_tables", "book")
def test_a_split_stocks_figures_after_the_split_are_its_unsplit_twins(
    database: TestDatabase, fake_fmp: FakeFmp
) -> None:
    market = _market().serve(fake_fmp)
    env = script_env(database.env_url, FMP_API_KEY=fake_fmp.api_key, FMP_BASE_URL=fake_fmp.base_url)

    # The first load, before the split: the two are one stock so far.
    market.asof = DAYS[FIRST_LOAD]
    loaded = run_script(
        "load_prices",
        "--fmp", "SPY", "TWIN", "SPLT",
        "--from", DAYS[0].isoformat(), "--to", DAYS[FIRST_LOAD].isoformat(),
        env=env,
    )  # fmt: skip
    assert loaded.code == 0, loaded.output

    # The days since, through the split and three dividends, brought current.
    market.asof = DAYS[-1]
    outcomes = {o.symbol: o for o in asyncio.run(_bring_current(database, fake_fmp, DAYS[-1]))}
    assert outcomes["SPLT"].status == "reloaded", outcomes["SPLT"]
    assert outcomes["SPLT"].changed_from is None  # the rescale changed no stored return
    splits = "SELECT ex_date, split_numerator FROM corporate_actions WHERE kind = 'split'"
    assert database.rows(splits) == [(DAYS[SPLIT], Decimal(4))]

    # As traded, the split stock falls to a quarter on the ex-date.
    traded = database.rows(
        "SELECT date, close, adjusted_close FROM daily_prices WHERE symbol = 'SPLT'"
        " AND date IN (:before, :on) ORDER BY date",
        before=DAYS[SPLIT - 1],
        on=DAYS[SPLIT],
    )
    (_, before, adj_before), (_, after, adj_after) = traded
    assert float(after) / float(before) < 0.3  # type: ignore[arg-type]
    assert 0.9 < float(adj_after) / float(adj_before) < 1.1  # type: ignore[arg-type]

    figures = run_script(
        "calculate_risk_metrics",
        "--from", DAYS[SPLIT].isoformat(), "--to", DAYS[-1].isoformat(),
        env=env,
    )  # fmt: skip
    assert figures.code == 0, figures.output

    betas = _figures(database, "position_market_betas", BETA_COLUMNS, "calc_date")
    vols = _figures(database, "position_volatility", VOL_COLUMNS, "calculation_date")
    dates = DAYS[SPLIT:]
    assert sorted(betas) == sorted(vols) == dates
    for day in dates:
        assert betas[day]["SPLT"] == betas[day]["TWIN"], day
        assert vols[day]["SPLT"] == vols[day]["TWIN"], day
    # Figures, not NULLs compared: a beta that moves with the market, vol and a forecast.
    first_beta, first_vol = betas[dates[0]]["SPLT"], vols[dates[0]]["SPLT"]
    assert 0.8 < float(first_beta[0]) < 2.0  # type: ignore[arg-type]
    assert first_vol[0] is not None and first_vol[5] is not None  # 21-day vol, HAR forecast
