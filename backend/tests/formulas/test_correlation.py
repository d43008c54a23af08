"""The holdings' correlation matrix and diversification ratio, against numpy.corrcoef and
figures worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.formulas.correlation import diversification_ratio, holding_correlations


def test_the_matrix_is_numpys_corrcoef_over_the_days_every_holding_has_a_return() -> None:
    rng = np.random.default_rng(7)
    factor = rng.normal(0, 0.01, 120)
    returns = np.column_stack(
        [factor * b + rng.normal(0, 0.01, 120) for b in (1.0, 0.5, -0.8, 0.0)]
    )
    returns[[3, 50], 1] = np.nan  # two gaps: those days leave the whole matrix
    returns[90, 3] = np.nan
    weights = np.array([0.4, 0.3, -0.2, 0.1])

    result = holding_correlations(returns, weights, needed=100)

    common = np.isfinite(returns).all(axis=1)
    assert result.observations == 117 == common.sum()
    np.testing.assert_allclose(
        result.correlation, np.corrcoef(returns[common], rowvar=False), atol=1e-12
    )
    np.testing.assert_allclose(result.daily_vols, returns[common].std(axis=0, ddof=1))
    assert result.left_out == {}
    covariance = np.cov(returns[common], rowvar=False)
    expected = (
        np.abs(weights) @ np.sqrt(np.diag(covariance)) / np.sqrt(weights @ covariance @ weights)
    )
    assert result.diversification_ratio == pytest.approx(expected, rel=1e-12)
    assert np.all(np.linalg.eigvalsh(result.correlation) > -1e-12)  # a true correlation matrix


def test_uncorrelated_holdings_of_equal_weight_and_vol_diversify_by_root_two() -> None:
    # Worked by hand: x and y have mean 0, equal variance and x.y = 0, so corr = 0 and
    # DR = (0.5 s + 0.5 s) / sqrt(0.25 s^2 + 0.25 s^2) = sqrt(2).
    x = np.array([0.01, -0.01, 0.01, -0.01])
    y = np.array([0.01, 0.01, -0.01, -0.01])
    result = holding_correlations(np.column_stack([x, y]), np.array([0.5, 0.5]), needed=4)
    np.testing.assert_allclose(result.correlation, np.eye(2), atol=1e-15)
    assert result.diversification_ratio == pytest.approx(math.sqrt(2), rel=1e-12)


def test_holdings_that_move_as_one_do_not_diversify_and_a_perfect_hedge_has_no_ratio() -> None:
    x = np.array([0.01, -0.02, 0.005, 0.03, -0.01])
    same = np.column_stack([x, 2 * x])
    together = holding_correlations(same, np.array([0.7, 0.3]), needed=5)
    np.testing.assert_allclose(together.correlation, np.ones((2, 2)))
    assert together.diversification_ratio == pytest.approx(1.0, rel=1e-12)

    # Long 2 units of x, short 1 of 2x: the book does not move.
    hedged = holding_correlations(same, np.array([2 / 3, -1 / 3]), needed=5)
    assert hedged.diversification_ratio is None
    assert hedged.diversification_reason is not None
    assert "offset each other exactly" in hedged.diversification_reason


def test_holdings_without_enough_returns_are_left_out_each_with_its_reason() -> None:
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.01, (10, 5))
    returns[:4, 1] = np.nan  # 6 of 10: too few on its own
    returns[:2, 2] = np.nan  # 8 of 10 ...
    returns[8:, 3] = np.nan  # ... and 8 of 10 on other days: together only 6 in common
    returns[:, 4] = 0.0  # never moves

    result = holding_correlations(returns, np.array([0.3, 0.2, 0.2, 0.2, 0.1]), needed=7)

    assert list(result.kept) == [0, 2]  # column 3: as few returns as 2, but later
    assert result.left_out == {
        1: "6 of 10 days with a return, at least 7 needed",
        3: "its returns and the other holdings' fall on fewer than 7 common days",
        4: "its price did not move in the window: no correlation",
    }
    assert result.observations == 8
    assert result.correlation.shape == (2, 2)


def test_no_holding_with_enough_returns_gives_an_empty_matrix_and_the_reason() -> None:
    result = holding_correlations(np.full((5, 2), np.nan), np.array([0.5, 0.5]), needed=3)
    assert result.correlation.shape == (0, 0)
    assert result.diversification_ratio is None
    assert result.diversification_reason == "no holding has enough returns in the window"
    assert set(result.left_out) == {0, 1}


def test_one_holding_is_its_own_diversification_ratio_of_one() -> None:
    x = np.array([[0.01], [-0.02], [0.03]])
    result = holding_correlations(x, np.array([-1.0]), needed=3)
    assert result.correlation.tolist() == [[1.0]]
    assert result.diversification_ratio == pytest.approx(1.0)
    assert diversification_ratio(np.zeros(1), np.ones(1), np.eye(1))[0] is None
