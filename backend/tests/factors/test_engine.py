"""The factor engine on loaded prices: exact identities, a factor without prices, options
on their underlying, the portfolio's weighted exposures and R-squared."""

from __future__ import annotations

import uuid
from datetime import date

import numpy as np
import pytest

from app.factors.definitions import default_factors
from app.factors.engine import (
    PORTFOLIO_RECORD,
    POSITION_RECORD,
    FactorRows,
    compute_factor_dates,
)
from app.factors.synthetic import etf_returns
from app.portfolios.repository import HeldPosition
from app.prices.repository import PriceHistory
from perf.factor_recovery import factor_returns, history_of

CODES = default_factors().codes
WINDOW = 90


def _history(seed: int = 4, days: int = 200, drop: tuple[str, ...] = ()) -> PriceHistory:
    rng = np.random.default_rng(seed)
    f = factor_returns(rng, days, default_factors())
    returns = etf_returns(rng, f, default_factors())
    returns["XYZ"] = 0.3 * f[:, 0] + 0.8 * f[:, 1] + rng.normal(0, 0.01, days)
    for symbol in drop:
        del returns[symbol]
    return history_of(returns, date(2025, 1, 2))


def _held(
    symbol: str, kind: str = "LONG", quantity: float = 10.0, series: str = ""
) -> HeldPosition:
    return HeldPosition(uuid.uuid4(), symbol, series or symbol, kind, quantity)


def _run(
    history: PriceHistory, held: list[HeldPosition], equity: float | None = None
) -> FactorRows:
    return compute_factor_dates(
        uuid.uuid4(), equity, [history.dates[-1]], [held], history, WINDOW, history_days=2520
    )


def _by_factor(
    rows: list[tuple[object, ...]], record: tuple[str, ...], position: uuid.UUID | None = None
) -> dict[str, dict[str, object]]:
    out = {}
    for row in rows:
        named = dict(zip(record, row, strict=True))
        if position is None or named["position_id"] == position:
            out[str(named["factor"])] = named
    return out


def test_holding_spy_is_market_1_and_every_spread_0() -> None:
    spy = _held("SPY")
    rows = _by_factor(_run(_history(), [spy]).positions, POSITION_RECORD)
    assert list(rows) == list(CODES)
    assert rows["MARKET"]["exposure"] == pytest.approx(1.0, abs=1e-9)
    for code in CODES[1:]:
        assert rows[code]["exposure"] == pytest.approx(0.0, abs=1e-9)
        assert rows[code]["std_error"] == 0.0
        assert np.isnan(rows[code]["t_stat"])  # type: ignore[arg-type]
        assert rows[code]["null_reason"] == "perfect fit (no residual): no t-statistic"
    assert rows["MARKET"]["r_squared"] == 1.0
    assert rows["MARKET"]["observations"] == WINDOW
    assert rows["MARKET"]["estimator"] == "OLS"


def test_holding_iwm_is_market_1_and_size_1() -> None:
    rows = _by_factor(_run(_history(), [_held("IWM")]).positions, POSITION_RECORD)
    exposures = {code: rows[code]["exposure"] for code in CODES}
    assert exposures == pytest.approx(
        {"MARKET": 1, "SIZE": 1, "VALUE": 0, "MOMENTUM": 0, "QUALITY": 0, "LOW_VOL": 0, "RATES": 0},
        abs=1e-9,
    )


def test_a_factor_without_prices_is_null_with_its_reason_and_the_others_are_estimated() -> None:
    history = _history(drop=("MTUM",))
    spy, stock = _held("SPY"), _held("XYZ")
    rows = _run(history, [spy, stock], equity=10_000.0)
    position = _by_factor(rows.positions, POSITION_RECORD, stock.id)
    assert np.isnan(position["MOMENTUM"]["exposure"])  # type: ignore[arg-type]
    assert position["MOMENTUM"]["null_reason"] == (
        "MTUM - SPY: daily returns in the 90-day window (MTUM 0), fewer than 72"
    )
    assert position["MARKET"]["exposure"] == pytest.approx(0.3, abs=0.25)
    assert position["SIZE"]["exposure"] == pytest.approx(0.8, abs=0.4)
    assert position["SIZE"]["null_reason"] is None
    portfolio = _by_factor(rows.portfolios, PORTFOLIO_RECORD)
    assert np.isnan(portfolio["MOMENTUM"]["exposure"])  # type: ignore[arg-type]
    assert portfolio["MOMENTUM"]["null_reason"] == position["MOMENTUM"]["null_reason"]
    assert not np.isnan(portfolio["VALUE"]["exposure"])  # type: ignore[arg-type]


def test_the_portfolio_is_its_positions_loadings_weighted_over_equity() -> None:
    history = _history()
    spy, iwm = _held("SPY", quantity=20.0), _held("IWM", "SHORT", 5.0)
    rows = _run(history, [spy, iwm], equity=50_000.0)
    spy_value = 20 * history.closes[-1, history.column("SPY")]
    iwm_value = -5 * history.closes[-1, history.column("IWM")]
    portfolio = _by_factor(rows.portfolios, PORTFOLIO_RECORD)
    assert portfolio["MARKET"]["exposure"] == pytest.approx((spy_value + iwm_value) / 50_000)
    assert portfolio["SIZE"]["exposure"] == pytest.approx(iwm_value / 50_000)
    assert portfolio["VALUE"]["exposure"] == pytest.approx(0.0, abs=1e-9)
    assert portfolio["MARKET"]["coverage"] == 1.0
    # A book of factor ETFs is explained whole by the factors.
    assert portfolio["MARKET"]["r_squared"] == pytest.approx(1.0)
    assert portfolio["MARKET"]["specific_volatility"] == pytest.approx(0.0, abs=1e-9)
    assert portfolio["MARKET"]["ridge_positions"] == 0


def test_an_option_carries_its_underlyings_loadings_and_a_put_enters_short() -> None:
    history = _history()
    put = _held("IWM  251219P00200000", "LP", 1.0, series="IWM")
    rows = _run(history, [put], equity=100_000.0)
    position = _by_factor(rows.positions, POSITION_RECORD)
    assert position["SIZE"]["exposure"] == pytest.approx(1.0, abs=1e-9)
    portfolio = _by_factor(rows.portfolios, PORTFOLIO_RECORD)
    assert portfolio["SIZE"]["exposure"] < 0


def test_too_short_a_history_gives_every_position_its_reason() -> None:
    history = _history(days=20)
    rows = _run(history, [_held("XYZ")])
    position = _by_factor(rows.positions, POSITION_RECORD)
    assert all(np.isnan(r["exposure"]) for r in position.values())  # type: ignore[arg-type]
    assert position["MARKET"]["null_reason"] == (
        "SPY: daily returns in the 90-day window (SPY 20), fewer than 72"
    )


def _comparable(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return [tuple(None if isinstance(v, float) and np.isnan(v) else v for v in r) for r in rows]


def test_a_date_computed_with_others_is_the_date_computed_alone() -> None:
    history = _history()
    held = [_held("XYZ"), _held("SPY")]
    portfolio = uuid.uuid4()
    both = compute_factor_dates(
        portfolio, None, history.dates[-2:], [held, held], history, WINDOW, history_days=2520
    )
    last = compute_factor_dates(
        portfolio, None, history.dates[-1:], [held], history, WINDOW, history_days=2520
    )
    assert _comparable(both.positions[14:]) == _comparable(last.positions)
    assert _comparable(both.portfolios[7:]) == _comparable(last.portfolios)
    assert _comparable(both.positions[:14]) != _comparable(last.positions)
