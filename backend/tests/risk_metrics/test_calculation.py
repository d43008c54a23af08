"""The risk engine against the real test database: what it writes, re-runs, skips."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
import statsmodels.api as sm
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.formulas.labels import TRENDS
from app.models import (
    DailyPrice,
    Portfolio,
    PortfolioSnapshot,
    Position,
    PositionMarketBeta,
    PositionVolatility,
    SecurityProfile,
)
from app.portfolios.repository import PortfolioNotFoundError
from app.prices.demo import demo_calendar
from app.prices.repository import MissingMarketDataError
from app.risk_metrics.calculation import calculate_portfolio_risk
from tests.formulas.test_har import _spikes_then_calm, _variance_har_forecast
from tests.support.factories import make_portfolio, make_position, snapshot_row

DAYS = 320
CALC = date(2025, 6, 30)
TRUE_BETAS = {"AAA": 1.5, "BBB": 0.6, "CCC": -0.4}
SECTOR = {"AAA": "Information Technology", "BBB": "Energy", "CCC": "Utilities", "SPY": None}


def _calendar() -> list[date]:
    return demo_calendar(CALC, DAYS)  # the last DAYS weekdays up to CALC


def _series() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    market = rng.normal(0.0004, 0.01, DAYS - 1)
    out = {"SPY": 400 * np.cumprod(np.r_[1.0, 1 + market])}
    for symbol, beta in TRUE_BETAS.items():
        r = beta * market + rng.normal(0, 0.012, DAYS - 1)
        out[symbol] = 50 * np.cumprod(np.r_[1.0, 1 + r])
    return out


async def _seed(session: AsyncSession, series: dict[str, np.ndarray]) -> None:
    days = _calendar()
    rows = [
        {"symbol": s, "date": d, "close": c, "adjusted_close": c, "source": "DEMO"}
        for s, closes in series.items()
        for d, c in zip(days, (round(float(p), 6) for p in closes), strict=True)
    ]
    await session.execute(pg_insert(DailyPrice), rows)
    await session.execute(
        pg_insert(SecurityProfile),
        [
            {"symbol": s, "sector": sec, "is_etf": sec is None, "source": "DEMO"}
            for s, sec in SECTOR.items()
        ],
    )


def _stored(series: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Closes as the database holds them (rounded to NUMERIC(18,6))."""
    return {s: np.round(v, 6) for s, v in series.items()}


async def _book(session: AsyncSession) -> tuple[Portfolio, dict[str, Position]]:
    portfolio = await make_portfolio(session, "Engine test")
    specs = [
        ("AAA", None, "LONG", "300"),
        ("BBB", None, "SHORT", "400"),
        ("CCC", None, "LONG", "200"),
        ("AAA250919C00060000", "AAA", "LC", "2"),
    ]
    positions = {
        symbol: await make_position(
            session,
            portfolio,
            symbol,
            qty,
            ptype,
            underlying_symbol=underlying,
            entry_price=Decimal("50"),
            entry_date=date(2024, 1, 2),
        )
        for symbol, underlying, ptype, qty in specs
    }
    return portfolio, positions


def _returns(closes: np.ndarray) -> np.ndarray:
    return closes[1:] / closes[:-1] - 1


async def test_writes_position_betas_volatility_and_snapshot_matching_references(
    session: AsyncSession,
) -> None:
    series = _series()
    await _seed(session, series)
    portfolio, positions = await _book(session)

    summary = await calculate_portfolio_risk(session, portfolio.id, CALC)

    closes = _stored(series)
    market = _returns(closes["SPY"])
    ref_beta = {}
    for symbol in TRUE_BETAS:
        fit = sm.OLS(_returns(closes[symbol])[-90:], sm.add_constant(market[-90:])).fit()
        ref_beta[symbol] = fit
    rows = {
        r.position_id: r
        for r in await session.scalars(
            select(PositionMarketBeta).where(PositionMarketBeta.portfolio_id == portfolio.id)
        )
    }
    assert len(rows) == 4 and summary.betas_written == 4
    for symbol, pos in positions.items():
        underlying = pos.underlying_symbol or symbol
        row, fit = rows[pos.id], ref_beta[underlying]
        assert float(row.beta) == pytest.approx(fit.params[1], abs=1e-6)
        assert float(row.alpha) == pytest.approx(fit.params[0], abs=1e-6)
        assert float(row.std_error) == pytest.approx(fit.bse[1], abs=1e-6)
        assert float(row.p_value) == pytest.approx(fit.pvalues[1], abs=1e-6)
        assert float(row.r_squared) == pytest.approx(fit.rsquared, abs=1e-6)
        assert (row.observations, row.window_days, row.method, row.market_index) == (
            90,
            90,
            "OLS_SIMPLE",
            "SPY",
        )

    vols = {
        r.position_id: r
        for r in await session.scalars(
            select(PositionVolatility).where(
                PositionVolatility.position_id.in_([p.id for p in positions.values()])
            )
        )
    }
    assert len(vols) == 4
    aaa_r = _returns(closes["AAA"])
    aaa_vol = vols[positions["AAA"].id]
    assert float(aaa_vol.realized_vol_21d) == pytest.approx(
        np.std(aaa_r[-21:], ddof=1) * math.sqrt(252), abs=1e-4
    )
    assert float(aaa_vol.realized_vol_63d) == pytest.approx(
        np.std(aaa_r[-63:], ddof=1) * math.sqrt(252), abs=1e-4
    )
    assert aaa_vol.observations == DAYS - 1
    assert aaa_vol.vol_trend in TRENDS
    assert 0 < float(aaa_vol.vol_percentile) <= 1
    assert float(aaa_vol.expected_vol_21d) > 0
    # The option row carries its underlying's figures.
    assert vols[positions["AAA250919C00060000"].id].realized_vol_21d == aaa_vol.realized_vol_21d

    snap = await session.scalar(
        select(PortfolioSnapshot).where(PortfolioSnapshot.portfolio_id == portfolio.id)
    )
    assert snap is not None and snap.calculation_date == CALC
    last = {s: closes[s][-1] for s in TRUE_BETAS}
    exposure = {
        "AAA": 300 * last["AAA"] + 2 * 100 * last["AAA"],  # stock + call notional
        "BBB": -400 * last["BBB"],
        "CCC": 200 * last["CCC"],
    }
    gross = sum(abs(v) for v in exposure.values())
    weighted = sum(exposure[s] * ref_beta[s].params[1] for s in exposure) / 100_000
    assert float(snap.market_beta_weighted) == pytest.approx(weighted, abs=1e-4)
    # The direct beta regresses the book as held each day: weights drifting with prices
    # from the previous close, over equity.
    size = {"AAA": 300 + 2 * 100, "BBB": -400, "CCC": 200}
    as_held = sum(size[s] * closes[s][:-1] * _returns(closes[s]) for s in size) / 100_000
    direct = sm.OLS(as_held[-90:], sm.add_constant(market[-90:])).fit().params[1]
    assert float(snap.market_beta_direct) == pytest.approx(direct, abs=1e-4)
    assert abs(float(snap.market_beta_direct) - weighted) > 1e-3  # the drift shows
    assert snap.market_beta_observations == 90
    assert float(snap.gross_exposure) == pytest.approx(gross, abs=0.01)
    assert snap.num_positions == 4
    weights = {s: abs(v) / gross for s, v in exposure.items()}
    assert float(snap.hhi) == pytest.approx(sum(w * w for w in weights.values()) * 1e4, abs=0.01)
    assert float(snap.top_3_concentration) == pytest.approx(1.0, abs=1e-4)
    assert snap.sector_exposure == pytest.approx(
        {SECTOR[s]: exposure[s] / gross for s in exposure}, abs=1e-6
    )
    port_r = sum(exposure[s] * _returns(closes[s]) for s in exposure) / 100_000
    assert float(snap.realized_volatility_21d) == pytest.approx(
        np.std(port_r[-21:], ddof=1) * math.sqrt(252), abs=1e-4
    )
    assert snap.volatility_trend in TRENDS
    assert summary.beta_coverage == 1.0 and summary.skipped == []


async def test_rerun_updates_in_place_and_keeps_existing_valuation_columns(
    session: AsyncSession,
) -> None:
    await _seed(session, _series())
    portfolio, _ = await _book(session)
    session.add(
        snapshot_row(
            portfolio.id, CALC, total_value=Decimal("123456.78"), gross_exposure=Decimal("1.00")
        )
    )
    await session.flush()

    await calculate_portfolio_risk(session, portfolio.id, CALC)
    first = {
        r.id: (r.beta, r.updated_at) for r in await session.scalars(select(PositionMarketBeta))
    }
    await calculate_portfolio_risk(session, portfolio.id, CALC)
    second = {
        r.id: (r.beta, r.updated_at)
        for r in await session.scalars(
            select(PositionMarketBeta).execution_options(populate_existing=True)
        )
    }

    assert first.keys() == second.keys() and len(first) == 4
    assert all(first[k][0] == second[k][0] for k in first)
    snaps = (
        await session.scalars(select(PortfolioSnapshot).execution_options(populate_existing=True))
    ).all()
    assert len(snaps) == 1
    assert snaps[0].total_value == Decimal("123456.78")  # not the engine's to change
    assert snaps[0].gross_exposure == Decimal("1.00")
    assert snaps[0].market_beta_weighted is not None
    assert await session.scalar(select(func.count()).select_from(PositionVolatility)) == 4


async def test_rows_of_a_position_no_longer_held_are_removed_on_rerun(
    session: AsyncSession,
) -> None:
    await _seed(session, _series())
    portfolio, positions = await _book(session)
    await calculate_portfolio_risk(session, portfolio.id, CALC)
    sold = positions["CCC"].id
    await session.execute(
        update(Position).where(Position.id == sold).values(exit_date=CALC - timedelta(days=3))
    )

    summary = await calculate_portfolio_risk(session, portfolio.id, CALC)

    assert summary.positions == 3
    for model in (PositionMarketBeta, PositionVolatility):
        ids = set(await session.scalars(select(model.position_id)))
        assert sold not in ids and len(ids) == 3


async def test_short_history_is_skipped_with_a_reason_and_reported_as_coverage(
    session: AsyncSession,
) -> None:
    series = _series()
    series["CCC"][:-20] = np.nan  # listed 20 trading days ago
    days = _calendar()
    await _seed(session, {s: v for s, v in series.items() if s != "CCC"})
    await session.execute(
        pg_insert(DailyPrice),
        [
            {
                "symbol": "CCC",
                "date": d,
                "close": float(p),
                "adjusted_close": float(p),
                "source": "DEMO",
            }
            for d, p in zip(days, series["CCC"], strict=True)
            if np.isfinite(p)
        ],
    )
    portfolio, positions = await _book(session)

    summary = await calculate_portfolio_risk(session, portfolio.id, CALC)

    reasons = [reason for symbol, reason in summary.skipped if symbol == "CCC"]
    assert any("fewer than 30" in r for r in reasons)
    # 19 returns give a 21-day vol but no HAR fit: the forecast is NULL, with its reason.
    assert any(r.startswith("expected_vol_21d: fewer than 63 usable") for r in reasons)
    ccc_vol = await session.scalar(
        select(PositionVolatility).where(PositionVolatility.position_id == positions["CCC"].id)
    )
    assert ccc_vol is not None and ccc_vol.realized_vol_21d is not None
    assert ccc_vol.expected_vol_21d is None
    assert summary.betas_written == 3
    ccc_gross = 200 * series["CCC"][-1]
    assert 0 < summary.beta_coverage < 1
    snap = await session.scalar(select(PortfolioSnapshot))
    assert snap is not None
    gross = float(snap.gross_exposure)
    assert summary.beta_coverage == pytest.approx(1 - ccc_gross / gross, abs=1e-6)
    ccc_beta = await session.scalar(
        select(PositionMarketBeta).where(PositionMarketBeta.position_id == positions["CCC"].id)
    )
    assert ccc_beta is None


async def test_without_market_prices_nothing_is_computed(session: AsyncSession) -> None:
    portfolio, _ = await _book(session)
    with pytest.raises(MissingMarketDataError, match="SPY"):
        await calculate_portfolio_risk(session, portfolio.id, CALC)


async def test_unknown_portfolio_is_an_error(session: AsyncSession) -> None:
    import uuid

    with pytest.raises(PortfolioNotFoundError):
        await calculate_portfolio_risk(session, uuid.uuid4(), CALC)


async def test_empty_portfolio_gets_a_snapshot_without_figures(session: AsyncSession) -> None:
    await _seed(session, _series())
    portfolio = await make_portfolio(session, "Empty", equity_balance=Decimal("1000"))
    summary = await calculate_portfolio_risk(session, portfolio.id, CALC)
    snap = await session.scalar(select(PortfolioSnapshot))
    assert summary.positions == 0 and snap is not None
    assert snap.num_positions == 0 and snap.market_beta_weighted is None and snap.hhi is None


async def test_series_that_drive_a_variance_fit_negative_store_only_positive_forecasts(
    session: AsyncSession,
) -> None:
    # Crashes then calm (the shape that made the old variance-level HAR negative), held
    # long and short: every stored forecast is positive or NULL, never 0.0000 or below.
    spikes = {"AAA": _spikes_then_calm(2), "BBB": _spikes_then_calm(4)}
    assert all(_variance_har_forecast(r) < 0 for r in spikes.values())
    rng = np.random.default_rng(9)
    market = rng.normal(0, 0.01, DAYS - 1)
    series = {"SPY": 400 * np.cumprod(np.r_[1.0, 1 + market])}
    for symbol, r in spikes.items():
        calm = rng.normal(0, 0.006, DAYS - 1 - r.size)
        series[symbol] = 50 * np.cumprod(np.r_[1.0, 1 + np.r_[calm, r]])
    series["CCC"] = 50 * np.cumprod(np.r_[1.0, 1 + rng.normal(0, 0.01, DAYS - 1)])
    await _seed(session, series)
    portfolio, _ = await _book(session)
    await calculate_portfolio_risk(session, portfolio.id, CALC)

    stored = (await session.scalars(select(PositionVolatility.expected_vol_21d))).all()
    assert len(stored) == 4 and all(v is not None and v > 0 for v in stored)
    snap = await session.scalar(select(PortfolioSnapshot.expected_volatility_21d))
    assert snap is None or snap > 0
