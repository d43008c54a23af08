"""The factor engine on loaded prices: exact identities, a factor without prices, options
on their underlying, the portfolio's weighted exposures and R-squared."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import numpy as np
import pytest

from app.factors.definitions import default_factors
from app.factors.engine import compute_factor_dates
from app.factors.rows import FactorRows
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
        equity, [history.dates[-1]], [held], history, WINDOW, history_days=2520
    )


def _by_factor(
    records: list[dict[str, Any]], position: uuid.UUID | None = None
) -> dict[str, dict[str, Any]]:
    return {
        str(r["factor"]): r for r in records if position is None or r["position_id"] == position
    }


def test_holding_spy_is_market_1_and_every_spread_0() -> None:
    spy = _held("SPY")
    rows = _by_factor(_run(_history(), [spy]).position_records())
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
    rows = _by_factor(_run(_history(), [_held("IWM")]).position_records())
    exposures = {code: rows[code]["exposure"] for code in CODES}
    assert exposures == pytest.approx(
        {"MARKET": 1, "SIZE": 1, "VALUE": 0, "MOMENTUM": 0, "QUALITY": 0, "LOW_VOL": 0, "RATES": 0},
        abs=1e-9,
    )


def test_a_factor_without_prices_is_null_with_its_reason_and_the_others_are_estimated() -> None:
    history = _history(drop=("MTUM",))
    spy, stock = _held("SPY"), _held("XYZ")
    rows = _run(history, [spy, stock], equity=10_000.0)
    position = _by_factor(rows.position_records(), stock.id)
    assert np.isnan(position["MOMENTUM"]["exposure"])  # type: ignore[arg-type]
    assert position["MOMENTUM"]["null_reason"] == (
        "MTUM - SPY: daily returns in the 90-day window (MTUM 0), fewer than 72"
    )
    assert position["MARKET"]["exposure"] == pytest.approx(0.3, abs=0.25)
    assert position["SIZE"]["exposure"] == pytest.approx(0.8, abs=0.4)
    assert position["SIZE"]["null_reason"] is None
    portfolio = _by_factor(rows.portfolio_records())
    assert np.isnan(portfolio["MOMENTUM"]["exposure"])  # type: ignore[arg-type]
    assert portfolio["MOMENTUM"]["null_reason"] == position["MOMENTUM"]["null_reason"]
    assert not np.isnan(portfolio["VALUE"]["exposure"])  # type: ignore[arg-type]


def test_the_portfolio_is_its_positions_loadings_weighted_over_equity() -> None:
    history = _history()
    spy, iwm = _held("SPY", quantity=20.0), _held("IWM", "SHORT", 5.0)
    rows = _run(history, [spy, iwm], equity=50_000.0)
    spy_value = 20 * history.closes[-1, history.column("SPY")]
    iwm_value = -5 * history.closes[-1, history.column("IWM")]
    portfolio = _by_factor(rows.portfolio_records())
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
    position = _by_factor(rows.position_records())
    assert position["SIZE"]["exposure"] == pytest.approx(1.0, abs=1e-9)
    portfolio = _by_factor(rows.portfolio_records())
    assert portfolio["SIZE"]["exposure"] < 0


def test_too_short_a_history_gives_every_position_its_reason() -> None:
    history = _history(days=20)
    rows = _run(history, [_held("XYZ")])
    position = _by_factor(rows.position_records())
    assert all(np.isnan(r["exposure"]) for r in position.values())  # type: ignore[arg-type]
    assert position["MARKET"]["null_reason"] == (
        "SPY: daily returns in the 90-day window (SPY 20), fewer than 72"
    )


def _comparable(records: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    return [
        tuple(None if isinstance(v, float) and np.isnan(v) else v for v in r.values())
        for r in records
    ]


def test_a_date_computed_with_others_is_the_date_computed_alone() -> None:
    history = _history()
    held = [_held("XYZ"), _held("SPY")]
    both = compute_factor_dates(
        None, history.dates[-2:], [held, held], history, WINDOW, history_days=2520
    )
    last = compute_factor_dates(
        None, history.dates[-1:], [held], history, WINDOW, history_days=2520
    )
    assert _comparable(both.position_records()[14:]) == _comparable(last.position_records())
    assert _comparable(both.portfolio_records()[7:]) == _comparable(last.portfolio_records())
    assert _comparable(both.position_records()[:14]) != _comparable(last.position_records())
