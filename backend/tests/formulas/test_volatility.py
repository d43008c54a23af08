"""Realized vol against numpy, HAR-RV against statsmodels on the vol scale, the insanity
filter, the batched forecast, trend and percentile."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest
import statsmodels.api as sm

from app.formulas.volatility import (
    HAR_SKIP_REASONS,
    HarRows,
    VolatilityResult,
    har_forecast,
    har_forecast_all_dates,
    har_sums,
    realized_vol,
    rolling_realized_vol,
    solve_har,
    vol_percentile,
    vol_trend,
    volatility_at,
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


def test_har_fit_is_statsmodels_ols_on_the_vol_scale() -> None:
    r = _returns(4)
    got = har_forecast(r)
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
        assert got.samples[j] == len(r) - 21 - 20 and got.skip_reason[j] is None
        assert got.vol_daily[j] == pytest.approx(abs(r[-1, j]) * SQRT_252)
        assert got.vol_weekly[j] == pytest.approx(math.sqrt(252 * (r[-5:, j] ** 2).mean()))
        assert got.vol_monthly[j] == pytest.approx(math.sqrt(252 * (r[-21:, j] ** 2).mean()))


def test_har_forecast_of_constant_volatility_is_near_that_volatility() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.02, (2000, 1))  # 0.02 daily = 0.3175 annualised
    got = har_forecast(r)
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
    got = har_forecast(r[:, None])
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
    got = har_forecast(r)
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
    got = har_forecast(r[:, None])
    assert got.filtered[0]
    no_change = math.sqrt(252 * (r[-21:] ** 2).mean())  # sqrt(252 RV_m): the random walk
    assert got.expected_vol[0] == pytest.approx(no_change, rel=1e-12)
    assert got.vol_monthly[0] == pytest.approx(got.expected_vol[0], rel=1e-12)


def _exact_design(days: int = 200) -> HarRows:
    """y = 2 sqrt(RV_m) - 0.01 exactly, over targets in [0.01, 0.05]: b0 = -0.01."""
    rng = np.random.default_rng(8)
    m = rng.uniform(0.01, 0.03, (days, 1))
    d, w = m * rng.uniform(0.5, 1.5, m.shape), m * rng.uniform(0.8, 1.2, m.shape)
    x = np.stack([np.ones_like(m), d, w, m])
    return HarRows(x=x, y=2 * m - 0.01, usable=np.ones((days, 1), dtype=bool))


def test_the_filter_replaces_forecasts_above_and_below_the_sample_range() -> None:
    rows = _exact_design()
    sums = har_sums(rows)
    beyond = np.array([[1.0, 0.2, 0.2, 0.2]])  # model 0.39, above max y 0.05
    inside = np.array([[1.0, 0.02, 0.02, 0.02]])  # model 0.03
    calm = np.array([[1.0, 0.0, 0.0, 0.0]])  # no move in 21 days: model -0.01, below 0
    high, mid, flat = (solve_har(sums, last) for last in (beyond, inside, calm))
    np.testing.assert_allclose(mid.coefficients[0], [-0.01, 0, 0, 2], atol=1e-9)
    assert not mid.filtered[0] and mid.forecast[0] == pytest.approx(0.03, rel=1e-9)
    assert high.filtered[0] and high.forecast[0] == pytest.approx(0.2, rel=1e-12)
    # No positive no-change forecast to fall back to: the fit sample's mean target.
    assert flat.filtered[0] and flat.forecast[0] == pytest.approx(float(rows.y.mean()), rel=1e-12)


def test_har_needs_enough_history_and_says_so() -> None:
    got = har_forecast(_returns(7, days=100, series=1))  # 100 - 41 = 59 samples < 63
    assert np.isnan(got.expected_vol[0]) and np.isnan(got.r_squared[0])
    assert np.isnan(got.coefficients[0]).all()
    assert got.skip_reason[0] is not None and "fewer than 63" in got.skip_reason[0]


def test_missing_returns_on_the_last_days_give_no_forecast_with_a_reason() -> None:
    r = _returns(9, series=1)
    r[-5:] = np.nan  # 16 of the last 21 returns: no monthly component on the last day
    got = har_forecast(r)
    assert np.isnan(got.expected_vol[0])
    assert got.skip_reason[0] is not None and "last day" in got.skip_reason[0]


def _assert_same_as_each_prefix(r: np.ndarray, first_row: int, history: int | None) -> None:
    batch = har_forecast_all_dates(r, first_row, history=history)
    assert batch.rows.tolist() == list(range(first_row, len(r)))
    for k, t in enumerate(batch.rows.tolist()):
        start = 0 if history is None else max(0, t + 1 - history)
        one = har_forecast(r[start : t + 1])
        codes = [HAR_SKIP_REASONS[c] for c in batch.reason_code[k].tolist()]
        assert codes == one.skip_reason, t
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
def test_all_dates_at_once_equal_har_forecast_on_each_prefix(history: int | None) -> None:
    r = _returns(10, days=420, series=3)
    r[200:204, 1] = np.nan  # a gap: components and targets around it are skipped
    r[-30:, 2] = 0.0  # a series that stops moving: the no-change forecast becomes 0
    _assert_same_as_each_prefix(r, 0, history)


def test_all_dates_at_once_filter_like_har_forecast_on_each_prefix() -> None:
    rng = np.random.default_rng(12)
    r = rng.standard_t(3, (260, 40)) * 0.01 * np.exp(rng.normal(0, 0.5, (1, 40)))
    r[rng.random(r.shape) < 0.01] *= 15  # isolated crashes trip the insanity filter
    batch = har_forecast_all_dates(r, 150, history=200)
    assert batch.filtered.any()
    _assert_same_as_each_prefix(r, 150, 200)


def test_all_dates_at_once_rejects_a_first_row_outside_the_returns() -> None:
    with pytest.raises(ValueError, match="first_row"):
        har_forecast_all_dates(np.zeros((10, 1)), 10)


def test_constant_price_has_zero_vol_no_har_fit_and_a_stable_trend() -> None:
    result = volatility_metrics(np.zeros((300, 1)))
    assert result.realized_vol_21d[0] == 0.0 and result.realized_vol_63d[0] == 0.0
    assert np.isnan(result.har.expected_vol[0])
    assert result.har.skip_reason == [HAR_SKIP_REASONS[2]]  # flat price, not a 0 forecast
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


def test_every_figure_at_many_dates_equals_volatility_metrics_on_each_window() -> None:
    r = _returns(13, days=330, series=3)
    r[150:156, 0] = np.nan  # a gap: windows around it miss days
    r[-40:, 2] = 0.0  # stops moving: zero vols, a flat HAR sample
    ends = np.arange(0, 330)
    many = volatility_at(r, ends, history=260)
    for k, t in enumerate(ends.tolist()):
        one = volatility_metrics(r[max(0, t + 1 - 260) : t + 1])
        at = many.at(k)
        assert at.trend == one.trend and at.har.skip_reason == one.har.skip_reason, t
        assert at.observations.tolist() == one.observations.tolist(), t
        for got, want in (
            (at.realized_vol_21d, one.realized_vol_21d),
            (at.realized_vol_63d, one.realized_vol_63d),
            (at.trend_strength, one.trend_strength),
            (at.percentile, one.percentile),
            (at.har.vol_monthly, one.har.vol_monthly),
            (at.har.expected_vol, one.har.expected_vol),
            (at.har.r_squared, one.har.r_squared),
        ):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=str(t))


def _figures(v: VolatilityResult, series: slice = slice(None)) -> dict[str, np.ndarray]:
    out = {f.name: getattr(v, f.name)[:, series] for f in fields(v) if f.name != "har"}
    out.update({f"har.{f.name}": getattr(v.har, f.name)[:, series] for f in fields(v.har)})
    return out


def test_series_blocks_on_two_threads_get_exactly_the_figures_of_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = _returns(8, series=7)
    r[10:40, 2] = np.nan
    monkeypatch.setattr("app.formulas.windows.SERIES_BLOCK", 3)
    monkeypatch.setattr("app.formulas.windows.BLOCK_CELLS", 0)
    for ends in (np.array([299]), np.array([150, 151, 200, 299])):
        one = _figures(volatility_at(r, ends, history=250, threads=1))
        two = _figures(volatility_at(r, ends, history=250, threads=2))
        for name, values in one.items():
            np.testing.assert_array_equal(two[name], values, err_msg=name)


def test_series_computed_in_blocks_get_exactly_the_figures_of_one_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = _returns(7, series=7)
    r[10:40, 2] = np.nan  # a block with holes and blocks without go different ways
    ends = np.array([150, 151, 200, 299])
    whole = _figures(volatility_at(r, ends, history=250))
    monkeypatch.setattr("app.formulas.windows.SERIES_BLOCK", 3)
    monkeypatch.setattr("app.formulas.windows.BLOCK_CELLS", 0)
    blocked = _figures(volatility_at(r, ends, history=250))
    for j in range(r.shape[1]):
        alone = _figures(volatility_at(r[:, [j]], ends, history=250))
        for name, values in alone.items():
            np.testing.assert_array_equal(blocked[name][:, j : j + 1], values, err_msg=name)
            np.testing.assert_array_equal(whole[name][:, j : j + 1], values, err_msg=name)
