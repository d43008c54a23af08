"""Simple returns and the portfolio return series."""

from __future__ import annotations

import numpy as np
import pytest

from app.formulas.returns import portfolio_returns, simple_returns
from tests.formulas.helpers import volatility_on_last_day


def test_simple_returns_and_gaps_become_nan_on_both_sides() -> None:
    prices = np.array([[100.0], [110.0], [np.nan], [121.0], [108.9]])
    r = simple_returns(prices)[:, 0]
    assert r[0] == pytest.approx(0.10)
    assert np.isnan(r[1]) and np.isnan(r[2])  # no return spans the missing day
    assert r[3] == pytest.approx(-0.10)


def test_two_perfectly_anticorrelated_positions_have_portfolio_vol_near_zero() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 0.02, 100)
    returns = np.column_stack([a, -a])  # B moves exactly opposite to A every day
    exposures = np.array([50_000.0, 50_000.0])

    port = portfolio_returns(returns, exposures, 100_000.0)
    port_vol = volatility_on_last_day(port).realized_vol_63d[0]
    each_vol = volatility_on_last_day(returns).realized_vol_63d

    assert port_vol == pytest.approx(0.0, abs=1e-12)
    # ... whereas the exposure-weighted average of the two position vols is far from zero.
    assert 0.5 * each_vol[0] + 0.5 * each_vol[1] > 0.2


def test_a_short_offsets_a_long_of_the_same_series() -> None:
    a = np.random.default_rng(2).normal(0, 0.02, 30)
    port = portfolio_returns(np.column_stack([a, a]), np.array([10.0, -10.0]), 20.0)
    assert np.allclose(port, 0.0)


def test_portfolio_return_is_exposure_weighted_over_the_denominator() -> None:
    returns = np.array([[0.01, -0.02], [np.nan, 0.03], [np.nan, np.nan]])
    port = portfolio_returns(returns, np.array([200.0, -100.0]), 1000.0)
    assert port[0] == pytest.approx((200 * 0.01 + -100 * -0.02) / 1000)
    assert port[1] == pytest.approx(-100 * 0.03 / 1000)  # missing return = no move
    assert np.isnan(port[2])


def test_portfolio_returns_reject_a_non_positive_denominator() -> None:
    with pytest.raises(ValueError, match="positive"):
        portfolio_returns(np.zeros((3, 1)), np.ones(1), 0.0)
