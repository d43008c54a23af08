"""The HAR-RV forecast against statsmodels on the vol scale, the insanity filter, the skip
reasons and the all-dates forecast, through the functions the engine runs."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest
import statsmodels.api as sm

from app.formulas.har import (
    HAR_SKIP_REASONS,
    HarResult,
    HarSums,
    har_forecast_all_dates,
    solve_har,
)
from app.formulas.volatility import volatility_at
from tests.formulas.helpers import volatility_on_last_day, wandering_vol_returns

SQRT_252 = math.sqrt(252)


def _har_design(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vol-scale HAR design by hand, with explicit loops: rows t = 20..days-22 as
    [1, sqrt rv_t, sqrt mean rv t-4..t, sqrt mean rv t-20..t], target sqrt mean rv
    t+1..t+21, and the last day's regressors."""
    rv = r**2

    def regressors(t: int) -> list[float]:
        return [
            1.0,
            rv[t] ** 0.5,
            rv[t - 4 : t + 1].mean() ** 0.5,
            rv[t - 20 : t + 1].mean() ** 0.5,
        ]

    rows = [regressors(t) for t in range(20, len(r) - 21)]
    targets = [rv[t + 1 : t + 22].mean() ** 0.5 for t in range(20, len(r) - 21)]
    return np.array(rows), np.array(targets), np.array(regressors(len(r) - 1))


def _variance_har_forecast(r: np.ndarray) -> float:
    """The previous model's raw forecast: OLS on variance levels, not floored."""
    x, y, last = _har_design(r)
    coef, *_ = np.linalg.lstsq(x**2, y**2, rcond=None)
    return float(last**2 @ coef)


def _reasons(codes: np.ndarray) -> list[str | None]:
    return [HAR_SKIP_REASONS[c] for c in codes.tolist()]


def test_har_fit_is_statsmodels_ols_on_the_vol_scale() -> None:
    r = wandering_vol_returns(4)
    got = volatility_on_last_day(r).har
    for j in range(r.shape[1]):
        x, y, last = _har_design(r[:, j])
        fit = sm.OLS(y, x).fit()
        np.testing.assert_allclose(got.coefficients[j], fit.params, rtol=1e-8, atol=1e-12)
        # R^2 is that of the vol-scale regression, not of variances.
        assert got.r_squared[j] == pytest.approx(fit.rsquared, abs=1e-9)
        variance_r2 = sm.OLS(y**2, x**2).fit().rsquared
        assert abs(got.r_squared[j] - variance_r2) > 1e-3
        forecast = float(last @ fit.params)
        assert y.min() <= forecast <= y.max() and not got.filtered[j]
        assert got.expected_vol[j] == pytest.approx(forecast * SQRT_252, rel=1e-9)
        assert got.samples[j] == len(r) - 21 - 20 and got.reason_code[j] == 0
        assert got.vol_daily[j] == pytest.approx(abs(r[-1, j]) * SQRT_252)
        assert got.vol_weekly[j] == pytest.approx(math.sqrt(252 * (r[-5:, j] ** 2).mean()))
        assert got.vol_monthly[j] == pytest.approx(math.sqrt(252 * (r[-21:, j] ** 2).mean()))


def test_har_forecast_of_constant_volatility_is_near_that_volatility() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.02, (2000, 1))  # 0.02 daily = 0.3175 annualised
    got = volatility_on_last_day(r).har
    assert got.expected_vol[0] == pytest.approx(0.02 * SQRT_252, rel=0.1)


def _alternating_regimes() -> np.ndarray:
    # Vol alternating every 21 days: a high monthly component predicts a calm month, and
    # on this seed the variance-level forecast for the last day goes below zero.
    rng = np.random.default_rng(4)
    sigma = np.where((np.arange(400) // 21) % 2 == 0, 0.03, 0.005)
    return rng.normal(0, 1, 400) * sigma


def _spikes_then_calm(seed: int) -> np.ndarray:
    # Ten-day crashes every 100 days, the last one ending 5 days ago: the variance-level
    # fit learns "after a crash, calm" so strongly that its forecast goes negative.
    rng = np.random.default_rng(seed)
    sigma = np.full(300, 0.006)
    for first in (40, 140, 285):
        sigma[first : first + 10] = 0.05
    return rng.normal(0, 1, 300) * sigma


@pytest.mark.parametrize(
    "r",
    [_alternating_regimes(), _spikes_then_calm(2), _spikes_then_calm(4)],
    ids=["alternating", "spikes-2", "spikes-4"],
)
def test_series_that_drive_the_variance_model_negative_get_a_positive_forecast(
    r: np.ndarray,
) -> None:
    assert _variance_har_forecast(r) < 0  # the series does what it was built to do
    got = volatility_on_last_day(r[:, None]).har
    assert np.isfinite(got.expected_vol[0]) and got.expected_vol[0] > 0
    _, y, _ = _har_design(r)
    assert y.min() * SQRT_252 <= got.expected_vol[0] <= y.max() * SQRT_252


def test_no_forecast_is_zero_or_negative_over_many_random_histories() -> None:
    rng = np.random.default_rng(11)
    days, series = 300, 400
    # Regime switches, crashes and flat stretches, so some fits are poor.
    sigma = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.15, (days, series)), axis=0))
    sigma *= np.where(rng.random((days, series)) < 0.02, 8.0, 1.0)
    r = rng.standard_t(3, (days, series)) * sigma
    got = volatility_on_last_day(r).har
    assert np.isfinite(got.expected_vol).all()
    assert (got.expected_vol > 0).all()
    assert got.filtered.any()  # the filter was exercised, not just never needed


def test_a_forecast_outside_the_fit_sample_falls_back_to_the_no_change_forecast() -> None:
    rng = np.random.default_rng(6)
    r = rng.normal(0, 0.01, 400)
    r[-1] = 0.25  # a crash on the last day, far beyond anything the fit has seen
    x, y, last = _har_design(r)
    model = float(last @ sm.OLS(y, x).fit().params)
    assert not y.min() <= model <= y.max()
    got = volatility_on_last_day(r[:, None]).har
    assert got.filtered[0]
    no_change = math.sqrt(252 * (r[-21:] ** 2).mean())  # sqrt(252 RV_m): the random walk
    assert got.expected_vol[0] == pytest.approx(no_change, rel=1e-12)
    assert got.vol_monthly[0] == pytest.approx(got.expected_vol[0], rel=1e-12)


def _exact_sums(days: int = 200) -> tuple[HarSums, np.ndarray]:
    """Normal equations of y = 2 sqrt(RV_m) - 0.01 exactly, over targets in [0.01, 0.05]
    (b0 = -0.01), summed here from the design rows; and the targets."""
    rng = np.random.default_rng(8)
    m = rng.uniform(0.01, 0.03, days)
    d, w = m * rng.uniform(0.5, 1.5, days), m * rng.uniform(0.8, 1.2, days)
    x = np.column_stack([np.ones(days), d, w, m])
    y = 2 * m - 0.01
    sums = HarSums(
        xtx=(x.T @ x)[None],
        xty=(x.T @ y)[None],
        yty=np.array([y @ y]),
        y_min=np.array([y.min()]),
        y_max=np.array([y.max()]),
    )
    return sums, y


def test_the_filter_replaces_forecasts_above_and_below_the_sample_range() -> None:
    sums, y = _exact_sums()
    beyond = np.array([[1.0, 0.2, 0.2, 0.2]])  # model 0.39, above max y 0.05
    inside = np.array([[1.0, 0.02, 0.02, 0.02]])  # model 0.03
    calm = np.array([[1.0, 0.0, 0.0, 0.0]])  # no move in 21 days: model -0.01, below 0
    high, mid, flat = (solve_har(sums, last) for last in (beyond, inside, calm))
    np.testing.assert_allclose(mid.coefficients[0], [-0.01, 0, 0, 2], atol=1e-9)
    assert not mid.filtered[0] and mid.forecast[0] == pytest.approx(0.03, rel=1e-9)
    assert high.filtered[0] and high.forecast[0] == pytest.approx(0.2, rel=1e-12)
    # No positive no-change forecast to fall back to: the fit sample's mean target.
    assert flat.filtered[0] and flat.forecast[0] == pytest.approx(float(y.mean()), rel=1e-12)


def test_har_needs_enough_history_and_says_so() -> None:
    # 100 - 41 = 59 samples < 63
    got = volatility_on_last_day(wandering_vol_returns(7, days=100, series=1)).har
    assert np.isnan(got.expected_vol[0]) and np.isnan(got.r_squared[0])
    assert np.isnan(got.coefficients[0]).all()
    reason = _reasons(got.reason_code)[0]
    assert reason is not None and "fewer than 63" in reason


def test_missing_returns_on_the_last_days_give_no_forecast_with_a_reason() -> None:
    r = wandering_vol_returns(9, series=1)
    r[-5:] = np.nan  # 16 of the last 21 returns: no monthly component on the last day
    got = volatility_on_last_day(r).har
    assert np.isnan(got.expected_vol[0])
    reason = _reasons(got.reason_code)[0]
    assert reason is not None and "last day" in reason


def test_a_flat_price_gets_no_fit_rather_than_a_zero_forecast() -> None:
    got = volatility_on_last_day(np.zeros((300, 1))).har
    assert np.isnan(got.expected_vol[0])
    assert _reasons(got.reason_code) == [HAR_SKIP_REASONS[2]]


def _assert_same_as_each_window(r: np.ndarray, first_row: int, history: int | None) -> None:
    batch = har_forecast_all_dates(r, first_row, history=history)
    assert batch.expected_vol.shape == (len(r) - first_row, r.shape[1])
    for k, t in enumerate(range(first_row, len(r))):
        start = 0 if history is None else max(0, t + 1 - history)
        one = volatility_on_last_day(r[start : t + 1]).har
        assert batch.reason_code[k].tolist() == one.reason_code.tolist(), t
        np.testing.assert_allclose(batch.expected_vol[k], one.expected_vol, rtol=1e-9)
        np.testing.assert_allclose(batch.r_squared[k], one.r_squared, rtol=1e-9)
        # Relative to each fit's largest coefficient: a slope near 0 has no relative precision.
        size = np.abs(np.nan_to_num(one.coefficients)).max(axis=1, keepdims=True)
        diff = np.abs(np.nan_to_num(batch.coefficients[k]) - np.nan_to_num(one.coefficients))
        assert (diff <= 1e-9 * size).all(), t
        assert (np.isnan(batch.coefficients[k]) == np.isnan(one.coefficients)).all()
        np.testing.assert_array_equal(batch.samples[k], one.samples)
        np.testing.assert_array_equal(batch.filtered[k], one.filtered)


@pytest.mark.parametrize("history", [None, 150, 400])
def test_all_dates_at_once_equal_the_engine_on_each_window(history: int | None) -> None:
    r = wandering_vol_returns(10, days=420, series=3)
    r[200:204, 1] = np.nan  # a gap: components and targets around it are skipped
    r[-30:, 2] = 0.0  # a series that stops moving: the no-change forecast becomes 0
    _assert_same_as_each_window(r, 0, history)


def test_all_dates_at_once_filter_like_the_engine_on_each_window() -> None:
    rng = np.random.default_rng(12)
    r = rng.standard_t(3, (260, 40)) * 0.01 * np.exp(rng.normal(0, 0.5, (1, 40)))
    r[rng.random(r.shape) < 0.01] *= 15  # isolated crashes trip the insanity filter
    batch = har_forecast_all_dates(r, 150, history=200)
    assert batch.filtered.any()
    _assert_same_as_each_window(r, 150, 200)


def test_all_dates_at_once_equal_the_engine_at_the_same_dates() -> None:
    r = wandering_vol_returns(14, days=330, series=3)
    r[100:110, 0] = np.nan
    batch = har_forecast_all_dates(r, 120, history=250)
    engine = volatility_at(r, np.arange(120, len(r)), history=250).har
    for field in fields(HarResult):
        np.testing.assert_array_equal(
            getattr(batch, field.name), getattr(engine, field.name), err_msg=field.name
        )


def test_all_dates_at_once_rejects_a_first_row_outside_the_returns() -> None:
    with pytest.raises(ValueError, match="first_row"):
        har_forecast_all_dates(np.zeros((10, 1)), 10)
