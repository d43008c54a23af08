"""OLS beta against statsmodels, known answers and the skip rules."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from app.formulas.beta import MIN_OBSERVATIONS, ols_beta_at
from tests.formulas.helpers import beta_on_last_day


def _market(rng: np.random.Generator, days: int) -> np.ndarray:
    return rng.normal(0.0004, 0.011, days)


def test_matches_statsmodels_ols_within_1e9_for_every_series() -> None:
    rng = np.random.default_rng(7)
    x = _market(rng, 90)
    true_betas = np.array([-1.2, 0.0, 0.4, 1.0, 2.3])
    y = 0.0002 + x[:, None] * true_betas + rng.normal(0, 0.015, (90, 5))

    result = beta_on_last_day(y, x)

    for j in range(y.shape[1]):
        fit = sm.OLS(y[:, j], sm.add_constant(x)).fit()
        assert result.beta[j] == pytest.approx(fit.params[1], abs=1e-9, rel=1e-9)
        assert result.alpha[j] == pytest.approx(fit.params[0], abs=1e-9)
        assert result.std_error[j] == pytest.approx(fit.bse[1], abs=1e-9, rel=1e-9)
        assert result.p_value[j] == pytest.approx(fit.pvalues[1], abs=1e-9)
        assert result.r_squared[j] == pytest.approx(fit.rsquared, abs=1e-9)
        assert result.t_stat[j] == pytest.approx(fit.tvalues[1], rel=1e-9)
        assert result.observations[j] == 90
        assert result.reason(j) is None


def test_gaps_use_only_days_where_both_returns_exist_like_statsmodels_on_those_rows() -> None:
    rng = np.random.default_rng(11)
    x = _market(rng, 90)
    y = 0.8 * x + rng.normal(0, 0.01, 90)
    y[[3, 17, 40]] = np.nan
    x_gappy = x.copy()
    x_gappy[[60, 61]] = np.nan
    keep = np.isfinite(y) & np.isfinite(x_gappy)

    result = beta_on_last_day(y, x_gappy)
    fit = sm.OLS(y[keep], sm.add_constant(x_gappy[keep])).fit()

    assert result.observations[0] == keep.sum() == 85
    assert result.beta[0] == pytest.approx(fit.params[1], abs=1e-9)
    assert result.std_error[0] == pytest.approx(fit.bse[1], abs=1e-9)
    assert result.p_value[0] == pytest.approx(fit.pvalues[1], abs=1e-9)


def test_one_and_a_half_times_market_plus_noise_gives_beta_near_1_5() -> None:
    rng = np.random.default_rng(3)
    x = _market(rng, 250)
    y = 1.5 * x + rng.normal(0, 0.004, 250)

    result = beta_on_last_day(y, x)

    # Noise sd 0.004 vs market sd 0.011 over 250 days: se(beta) ~ 0.004/(0.011*sqrt(250)) ~ 0.023.
    assert abs(result.beta[0] - 1.5) < 4 * 0.023
    assert result.p_value[0] < 1e-10
    assert result.r_squared[0] > 0.9


def test_short_position_series_has_negative_beta_of_the_same_size() -> None:
    rng = np.random.default_rng(5)
    x = _market(rng, 90)
    y = 1.1 * x + rng.normal(0, 0.01, 90)

    result = beta_on_last_day(np.column_stack([y, -y]), x)

    assert result.beta[1] == pytest.approx(-result.beta[0], abs=1e-12)
    assert result.r_squared[1] == pytest.approx(result.r_squared[0], abs=1e-12)
    assert result.p_value[1] == pytest.approx(result.p_value[0], abs=1e-12)


def test_perfect_fit_has_zero_std_error_p_zero_and_r_squared_one() -> None:
    x = _market(np.random.default_rng(1), 60)
    result = beta_on_last_day(2.0 * x + 0.001, x)
    assert result.beta[0] == pytest.approx(2.0, abs=1e-12)
    assert result.alpha[0] == pytest.approx(0.001, abs=1e-12)
    assert result.std_error[0] == pytest.approx(0.0, abs=1e-9)
    assert result.p_value[0] == pytest.approx(0.0, abs=1e-12)
    assert result.r_squared[0] == pytest.approx(1.0, abs=1e-12)


def test_fewer_than_30_observations_is_skipped_with_a_reason() -> None:
    rng = np.random.default_rng(2)
    x = _market(rng, 90)
    y = x + rng.normal(0, 0.01, 90)
    y[: 90 - (MIN_OBSERVATIONS - 1)] = np.nan  # 29 usable days

    result = beta_on_last_day(y, x)

    assert result.observations[0] == MIN_OBSERVATIONS - 1
    assert result.reason(0) is not None and "fewer than 30" in result.reason(0)
    assert np.isnan(result.beta[0]) and result.reason_code[0] != 0


def test_exactly_30_observations_is_estimated() -> None:
    rng = np.random.default_rng(2)
    x = _market(rng, 30)
    result = beta_on_last_day(x + rng.normal(0, 0.01, 30), x)
    assert result.reason(0) is None and np.isfinite(result.beta[0])


def test_constant_price_is_skipped_not_reported_as_beta_zero() -> None:
    x = _market(np.random.default_rng(4), 90)
    result = beta_on_last_day(np.zeros(90), x)
    assert result.reason(0) is not None and "did not move" in result.reason(0)
    assert np.isnan(result.beta[0])


def test_one_bad_series_does_not_disturb_the_others() -> None:
    rng = np.random.default_rng(9)
    x = _market(rng, 90)
    good = 0.7 * x + rng.normal(0, 0.01, 90)
    result = beta_on_last_day(np.column_stack([good, np.full(90, np.nan), np.zeros(90)]), x)
    alone = beta_on_last_day(good, x)
    assert result.beta[0] == alone.beta[0]
    assert (result.reason_code == 0).tolist() == [True, False, False]


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="rows"):
        ols_beta_at(np.zeros((10, 2)), np.zeros(9), np.array([9]), window=10)


def test_betas_at_many_dates_equal_one_date_on_each_window() -> None:
    rng = np.random.default_rng(11)
    x = _market(rng, 260)
    y = np.column_stack([0.8 * x, -1.2 * x, 0.3 * x]) + rng.normal(0, 0.01, (260, 3))
    y[100:130, 1] = np.nan  # a gap: fewer observations, then too few
    y[200:, 2] = 0.0  # stops moving: a flat window later on
    ends = np.arange(20, 260)
    many = ols_beta_at(y, x, ends, window=90, history=150)
    for k, t in enumerate(ends.tolist()):
        lo = max(0, t + 1 - 90)
        one = beta_on_last_day(y[lo : t + 1], x[lo : t + 1])
        assert many.reason_code[k].tolist() == one.reason_code.tolist(), t
        assert many.observations[k].tolist() == one.observations.tolist(), t
        for name in ("beta", "alpha", "r_squared", "std_error", "p_value"):
            np.testing.assert_allclose(
                getattr(many, name)[k], getattr(one, name), rtol=1e-9, atol=1e-12, err_msg=name
            )


def _seven_series_with_a_gap(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A market and seven beta-loaded series over 200 days, one with 40 missing returns."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0, 0.01, 200)
    assets = market[:, None] * rng.uniform(0, 2, 7) + rng.normal(0, 0.01, (200, 7))
    assets[20:60, 2] = np.nan
    return market, assets


def test_series_computed_in_blocks_get_exactly_the_estimates_of_one_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market, assets = _seven_series_with_a_gap(11)
    for ends in (np.array([199]), np.array([120, 150, 199])):
        whole = ols_beta_at(assets, market, ends, window=90, history=150)
        monkeypatch.setattr("app.formulas.blocks.SERIES_BLOCK", 3)
        monkeypatch.setattr("app.formulas.blocks.BLOCK_CELLS", 0)
        blocked = ols_beta_at(assets, market, ends, window=90, history=150)
        monkeypatch.undo()
        for name in ("beta", "alpha", "r_squared", "std_error", "p_value", "observations"):
            np.testing.assert_array_equal(getattr(blocked, name), getattr(whole, name), name)


def test_series_blocks_on_two_threads_get_exactly_the_estimates_of_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market, assets = _seven_series_with_a_gap(12)
    monkeypatch.setattr("app.formulas.blocks.SERIES_BLOCK", 3)
    monkeypatch.setattr("app.formulas.blocks.BLOCK_CELLS", 0)
    for ends in (np.array([199]), np.array([120, 150, 199])):
        one = ols_beta_at(assets, market, ends, window=90, history=150, threads=1)
        two = ols_beta_at(assets, market, ends, window=90, history=150, threads=2)
        for name in ("beta", "alpha", "r_squared", "std_error", "p_value", "observations"):
            np.testing.assert_array_equal(getattr(two, name), getattr(one, name), name)
