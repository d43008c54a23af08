"""Simple returns and the return series of a book's holdings."""

from __future__ import annotations

import numpy as np
import pytest

from app.formulas.returns import holdings_returns, simple_returns
from tests.formulas.helpers import volatility_on_last_day


def test_simple_returns_and_gaps_become_nan_on_both_sides() -> None:
    prices = np.array([[100.0], [110.0], [np.nan], [121.0], [108.9]])
    r = simple_returns(prices)[:, 0]
    assert r[0] == pytest.approx(0.10)
    assert np.isnan(r[1]) and np.isnan(r[2])  # no return spans the missing day
    assert r[3] == pytest.approx(-0.10)


def _one_book(returns: np.ndarray, exposures: list[float], denominator: float) -> np.ndarray:
    """The return series of one book holding one position in each column of ``returns``."""
    cols = np.arange(returns.shape[1], dtype=np.intp)
    return holdings_returns(returns, [cols], [np.array(exposures)], [denominator])[:, 0]


def test_two_perfectly_anticorrelated_positions_have_portfolio_vol_near_zero() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 0.02, 100)
    returns = np.column_stack([a, -a])  # B moves exactly opposite to A every day

    port = _one_book(returns, [50_000.0, 50_000.0], 100_000.0)
    port_vol = volatility_on_last_day(port).realized_vol_63d[0]
    each_vol = volatility_on_last_day(returns).realized_vol_63d

    assert port_vol == pytest.approx(0.0, abs=1e-12)
    # ... whereas the exposure-weighted average of the two position vols is far from zero.
    assert 0.5 * each_vol[0] + 0.5 * each_vol[1] > 0.2


def test_a_short_offsets_a_long_of_the_same_series() -> None:
    a = np.random.default_rng(2).normal(0, 0.02, (30, 1))
    port = holdings_returns(a, [np.array([0, 0])], [np.array([10.0, -10.0])], [20.0])
    assert np.allclose(port, 0.0)


def test_portfolio_return_is_exposure_weighted_over_the_denominator() -> None:
    returns = np.array([[0.01, -0.02], [np.nan, 0.03], [np.nan, np.nan]])
    port = _one_book(returns, [200.0, -100.0], 1000.0)
    assert port[0] == pytest.approx((200 * 0.01 + -100 * -0.02) / 1000)
    assert port[1] == pytest.approx(-100 * 0.03 / 1000)  # missing return = no move
    assert np.isnan(port[2])  # no held series has a return


def test_each_date_follows_its_own_holdings_and_a_series_held_twice_counts_twice() -> None:
    returns = np.array([[0.01, 0.02, np.nan], [0.03, np.nan, 0.05], [np.nan, np.nan, 0.04]])
    port = holdings_returns(
        returns,
        [np.array([0, 0]), np.array([1]), np.array([1, 2])],
        [np.array([100.0, 300.0]), np.array([-50.0]), np.array([np.nan, 200.0])],
        [400.0, 100.0, 1000.0],
    )
    assert port.shape == (3, 3)
    np.testing.assert_allclose(port[:, 0], [0.01, 0.03, np.nan])  # both lots: 400 x r / 400
    np.testing.assert_allclose(port[:, 1], [-0.01, np.nan, np.nan])
    # A position without a price (NaN exposure) moves nothing, though its series' return
    # still makes the day count: 0.0 on the first day, not NaN.
    np.testing.assert_allclose(port[:, 2], [0.0, 0.01, 0.008])


def test_a_book_without_exposure_or_denominator_has_no_return_series() -> None:
    returns = np.full((4, 2), 0.01)
    cols = np.array([0, 1])
    port = holdings_returns(
        returns,
        [cols, cols, cols],
        [np.array([1.0, 1.0]), np.zeros(2), np.array([np.nan, np.nan])],
        [0.0, 100.0, 100.0],
    )
    assert np.isnan(port).all()
