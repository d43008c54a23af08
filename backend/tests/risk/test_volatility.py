"""Realized vol against numpy, HAR-RV against a plain least-squares fit, trend and percentile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.risk.volatility import (
    har_forecast,
    realized_vol,
    rolling_realized_vol,
    vol_percentile,
    vol_trend,
    volatility_metrics,
)

SQRT_252 = math.sqrt(252)


def _returns(seed: int, days: int = 300, series: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Volatility that wanders, so HAR has something to fit.
    sigma = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.05, (days, series)), axis=0))
    return rng.normal(0, 1, (days, series)) * sigma


def test_realized_vol_is_numpy_sample_std_times_sqrt_252() -> None:
    r = _returns(1)
    for window in (21, 63):
        got = realized_vol(r, window)
        expected = np.std(r[-window:], axis=0, ddof=1) * SQRT_252
        np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_rolling_realized_vol_matches_numpy_on_every_window() -> None:
    r = _returns(2, days=80, series=2)
    rolling = rolling_realized_vol(r, 21)
    for t in range(20, 80):
        expected = np.std(r[t - 20 : t + 1], axis=0, ddof=1) * SQRT_252
        np.testing.assert_allclose(rolling[t], expected, rtol=1e-9)
    assert np.isnan(rolling[:20]).all()


def test_realized_vol_skips_missing_days_and_needs_80_percent_of_the_window() -> None:
    r = _returns(3, days=100, series=1)[:, 0]
    gappy = r.copy()
    gappy[-21:][[2, 9, 15, 20]] = np.nan  # 17 of 21 days left: enough
    window = gappy[-21:]
    expected = np.std(window[np.isfinite(window)], ddof=1) * SQRT_252
    assert realized_vol(gappy, 21)[0] == pytest.approx(expected, rel=1e-10)
    gappy[-21:][[0, 1]] = np.nan  # 15 of 21: not enough
    assert np.isnan(realized_vol(gappy, 21)[0])


def _har_reference(r: np.ndarray) -> tuple[float, float, np.ndarray]:
    """HAR-RV by hand: explicit loops for the components, np.linalg.lstsq for the fit.
    Returns the raw variance forecast (not floored), R^2 and the coefficients."""
    rv = r**2
    rows, targets = [], []
    for t in range(20, len(r) - 21):
        rows.append([1.0, rv[t], rv[t - 4 : t + 1].mean(), rv[t - 20 : t + 1].mean()])
        targets.append(rv[t + 1 : t + 22].mean())
    x, y = np.array(rows), np.array(targets)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    r2 = 1 - ((y - x @ coef) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    t = len(r) - 1
    last = np.array([1.0, rv[t], rv[t - 4 : t + 1].mean(), rv[t - 20 : t + 1].mean()])
    return float(last @ coef), float(r2), coef


def test_har_matches_a_plain_least_squares_fit() -> None:
    r = _returns(4)
    got = har_forecast(r)
    for j in range(r.shape[1]):
        forecast, expected_r2, coef = _har_reference(r[:, j])
        assert forecast > 0
        assert got.expected_vol[j] == pytest.approx(math.sqrt(252 * forecast), rel=1e-9)
        assert got.r_squared[j] == pytest.approx(expected_r2, abs=1e-9)
        np.testing.assert_allclose(got.coefficients[j], coef, rtol=1e-7, atol=1e-12)
        assert got.samples[j] == len(r) - 21 - 20
        assert got.vol_daily[j] == pytest.approx(abs(r[-1, j]) * SQRT_252)
        assert got.vol_weekly[j] == pytest.approx(math.sqrt(252 * (r[-5:, j] ** 2).mean()))
        assert got.vol_monthly[j] == pytest.approx(math.sqrt(252 * (r[-21:, j] ** 2).mean()))


def test_har_forecast_of_constant_volatility_is_near_that_volatility() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.02, (2000, 1))  # 0.02 daily = 0.3175 annualised
    got = har_forecast(r)
    assert got.expected_vol[0] == pytest.approx(0.02 * SQRT_252, rel=0.1)


def test_har_negative_variance_forecast_is_floored_at_zero() -> None:
    # Vol alternating every 21 days: a high monthly component predicts a calm month, and
    # on this seed the linear forecast for the last day goes below zero.
    rng = np.random.default_rng(4)
    sigma = np.where((np.arange(400) // 21) % 2 == 0, 0.03, 0.005)
    r = rng.normal(0, 1, 400) * sigma
    forecast, _, _ = _har_reference(r)
    assert forecast < 0
    assert har_forecast(r[:, None]).expected_vol[0] == 0.0


def test_har_needs_enough_history() -> None:
    got = har_forecast(_returns(7, days=100, series=1))  # 100 - 41 = 59 samples < 63
    assert np.isnan(got.expected_vol[0]) and np.isnan(got.r_squared[0])


def test_constant_price_has_zero_vol_no_har_fit_and_a_stable_trend() -> None:
    result = volatility_metrics(np.zeros((300, 1)))
    assert result.realized_vol_21d[0] == 0.0 and result.realized_vol_63d[0] == 0.0
    assert np.isnan(result.har.expected_vol[0])
    assert result.trend == ["stable"] and result.trend_strength[0] == 0.0


@pytest.mark.parametrize(
    ("short", "long", "trend", "strength"),
    [
        (0.30, 0.20, "increasing", math.log(1.5) / math.log(2)),
        (0.20, 0.30, "decreasing", math.log(1.5) / math.log(2)),
        (0.21, 0.20, "stable", math.log(1.05) / math.log(2)),
        (0.22, 0.20, "increasing", math.log(1.1) / math.log(2)),  # threshold is inclusive
        (0.80, 0.20, "increasing", 1.0),  # capped at 1
    ],
)
def test_trend_rule(short: float, long: float, trend: str, strength: float) -> None:
    labels, strengths = vol_trend(np.array([short]), np.array([long]))
    assert labels == [trend]
    assert strengths[0] == pytest.approx(strength)


def test_trend_is_none_when_a_vol_is_missing() -> None:
    labels, strengths = vol_trend(np.array([0.2]), np.array([np.nan]))
    assert labels == [None] and np.isnan(strengths[0])


def test_percentile_counts_vols_at_or_below_today_in_the_last_252_days() -> None:
    history = np.arange(1.0, 301.0)  # strictly rising: today is the highest
    history[-1] = 100.5  # ... until today, which beats the 252-window's values 49..100
    got = vol_percentile(history[:, None])[0]
    window = history[-252:]
    assert got == pytest.approx((window <= 100.5).sum() / 252)
    assert got == pytest.approx(53 / 252)


def test_percentile_needs_63_days_of_history() -> None:
    assert np.isnan(vol_percentile(np.arange(62.0)[:, None])[0])
    assert vol_percentile(np.arange(63.0)[:, None])[0] == pytest.approx(1.0)
