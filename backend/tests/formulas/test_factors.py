"""Multi-factor OLS against statsmodels, the collinearity guard and its ridge, exact
identities, and the portfolio's exposure-weighted loadings."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from app.formulas.factors import (
    CONDITION_LIMIT,
    FactorFit,
    condition_number,
    fit_factors,
    portfolio_loadings,
    spread_returns,
)
from app.formulas.returns import TRADING_DAYS_PER_YEAR


def _factors(rng: np.random.Generator, days: int, k: int = 7) -> np.ndarray:
    mixing = np.eye(k) + 0.2 * rng.normal(size=(k, k))  # correlated, not collinear
    return rng.normal(0.0003, 0.008, (days, k)) @ mixing


def _fit(y: np.ndarray, x: np.ndarray) -> FactorFit:
    fit = fit_factors(y, x)
    assert isinstance(fit, FactorFit), fit
    return fit


def test_loadings_errors_t_and_r_squared_match_statsmodels_ols_within_1e9() -> None:
    rng = np.random.default_rng(25)
    x = _factors(rng, 90)
    for loadings in ([1.1, 0.3, -0.4, 0.0, 0.2, -0.6, 0.1], [0.0] * 7, [-1.5, 2, 0, 1, 0, 0, -3]):
        y = 0.0001 + x @ np.array(loadings) + rng.normal(0, 0.012, 90)
        ours = _fit(y, x)
        ref = sm.OLS(y, sm.add_constant(x)).fit()
        assert ours.estimator == "OLS"
        assert ours.condition_number < CONDITION_LIMIT
        np.testing.assert_allclose(ours.loadings, ref.params[1:], rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.std_errors, ref.bse[1:], rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.covariance, ref.cov_params()[1:, 1:], rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(ours.t_stats, ref.tvalues[1:], rtol=1e-9, atol=1e-9)
        assert ours.alpha == pytest.approx(ref.params[0], abs=1e-9)
        assert ours.r_squared == pytest.approx(ref.rsquared, abs=1e-9)
        assert ours.residual_vol == pytest.approx(
            np.sqrt(ref.scale * TRADING_DAYS_PER_YEAR), abs=1e-9
        )
        assert ours.observations == 90


def test_days_missing_any_return_are_dropped_as_statsmodels_sees_the_rest() -> None:
    rng = np.random.default_rng(3)
    x = _factors(rng, 120, k=4)
    y = x @ np.array([0.9, 0.5, -0.2, 0.3]) + rng.normal(0, 0.01, 120)
    y[[2, 50]] = np.nan
    x[[7, 8, 99], 2] = np.nan
    keep = np.isfinite(y) & np.isfinite(x).all(axis=1)

    ours = _fit(y, x)
    ref = sm.OLS(y[keep], sm.add_constant(x[keep])).fit()

    assert ours.observations == keep.sum() == 115
    np.testing.assert_allclose(ours.loadings, ref.params[1:], atol=1e-9)
    np.testing.assert_allclose(ours.std_errors, ref.bse[1:], atol=1e-9)


def test_holding_the_market_gives_market_1_and_every_spread_0_a_perfect_fit() -> None:
    rng = np.random.default_rng(8)
    legs = rng.normal(0.0004, 0.01, (90, 4))  # SPY, IWM, IWD, IWF
    x = spread_returns(legs, np.array([0, 1, 2]), np.array([-1, 0, 3]))
    spy = _fit(legs[:, 0], x)
    iwm = _fit(legs[:, 1], x)

    np.testing.assert_allclose(spy.loadings, [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(iwm.loadings, [1, 1, 0], atol=1e-12)
    for perfect in (spy, iwm):
        assert perfect.r_squared == 1.0
        assert (perfect.std_errors == 0).all() and np.isnan(perfect.t_stats).all()
        assert perfect.residual_vol == 0.0


def test_nearly_collinear_factors_take_the_ridge_and_say_so() -> None:
    rng = np.random.default_rng(11)
    base = _factors(rng, 250, k=3)
    twin = base[:, 0] + rng.normal(0, 1e-5, 250)  # nearly the first factor again
    x = np.column_stack([base, twin])
    y = x[:, :3] @ np.array([0.6, 0.3, -0.2]) + 0.6 * twin + rng.normal(0, 0.01, 250)

    fit = _fit(y, x)

    assert fit.estimator == "RIDGE" and fit.ridge_penalty > 0
    assert fit.condition_number > 1000  # far past the guard
    # The penalty brings the standardised regressors' condition number to the limit.
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    eig = np.linalg.eigvalsh(z.T @ z / 250) + fit.ridge_penalty
    assert np.sqrt(eig[-1] / eig[0]) == pytest.approx(CONDITION_LIMIT, rel=1e-9)
    # The twins' combined loading is what the data pins down: the ridge gives what OLS
    # gives with the twins as one regressor, and the other loadings alike.
    merged = sm.OLS(y, sm.add_constant(base)).fit().params[1:]
    assert fit.loadings[0] + fit.loadings[3] == pytest.approx(merged[0], abs=0.01)
    assert fit.loadings[1:3] == pytest.approx(merged[1:], abs=0.01)
    assert np.isfinite(fit.std_errors).all() and (fit.std_errors > 0).all()
    # OLS on the same data swings on the noise: its errors are hundreds of times larger.
    ols = sm.OLS(y, sm.add_constant(x)).fit()
    assert ols.bse[1] > 100 * fit.std_errors[0]


def test_a_factor_that_is_an_exact_combination_of_others_still_gets_a_ridge_fit() -> None:
    rng = np.random.default_rng(5)
    base = _factors(rng, 90, k=2)
    x = np.column_stack([base, base.sum(axis=1)])
    y = base @ np.array([1.0, 0.5]) + rng.normal(0, 0.01, 90)

    fit = _fit(y, x)

    assert fit.condition_number == float("inf")
    assert fit.estimator == "RIDGE"
    assert np.isfinite(fit.loadings).all()


def test_condition_number_of_orthogonal_regressors_is_one() -> None:
    z = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert condition_number(z)[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("y", "reason"),
    [
        (np.full(90, np.nan), "0 aligned daily returns, fewer than 30"),
        (np.r_[np.full(70, np.nan), np.ones(20) * 0.01], "20 aligned daily returns, fewer than 30"),
        (np.zeros(90), "price did not move in the window (zero return variance)"),
    ],
)
def test_no_estimate_gives_its_reason(y: np.ndarray, reason: str) -> None:
    x = _factors(np.random.default_rng(1), 90, k=3)
    assert fit_factors(y, x) == reason


def test_portfolio_loadings_weight_by_signed_exposure_over_equity_scaling_coverage() -> None:
    loadings = np.array([[1.0, 0.5], [2.0, np.nan], [0.5, -1.0]])
    exposures = np.array([600.0, -200.0, np.nan])  # the third has no price

    out = portfolio_loadings(loadings, exposures, 1000.0)

    # Market: (600*1 - 200*2) / 1000, every priced position has a loading.
    assert out.exposure[0] == pytest.approx(0.2)
    assert out.coverage[0] == pytest.approx(1.0)
    # The second factor: only the first position (600 of 800 gross) has one; scaled over.
    assert out.coverage[1] == pytest.approx(0.75)
    assert out.exposure[1] == pytest.approx(600 * 0.5 / 1000 / 0.75)


def test_portfolio_loadings_without_any_loading_are_nan() -> None:
    out = portfolio_loadings(np.full((2, 3), np.nan), np.array([1.0, 2.0]), 3.0)
    assert np.isnan(out.exposure).all()
    assert (out.coverage == 0).all()
