"""Realized vol against numpy, trend and percentile, every figure at many dates, and the
series blocks."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest

from app.formulas.har import HAR_SKIP_REASONS
from app.formulas.volatility import (
    VolatilityResult,
    percentiles_at,
    trend_codes,
    trend_label,
    volatility_at,
)
from tests.formulas.helpers import volatility_on_last_day, wandering_vol_returns

SQRT_252 = math.sqrt(252)


def test_realized_vol_is_numpy_sample_std_times_sqrt_252() -> None:
    r = wandering_vol_returns(1)
    got = volatility_on_last_day(r)
    for window, vol in ((21, got.realized_vol_21d), (63, got.realized_vol_63d)):
        expected = np.std(r[-window:], axis=0, ddof=1) * SQRT_252
        np.testing.assert_allclose(vol, expected, rtol=1e-10)


def test_realized_vol_at_every_date_matches_numpy_on_its_window() -> None:
    r = wandering_vol_returns(2, days=80, series=2)
    rolling = volatility_at(r, np.arange(80)).realized_vol_21d
    for t in range(20, 80):
        expected = np.std(r[t - 20 : t + 1], axis=0, ddof=1) * SQRT_252
        np.testing.assert_allclose(rolling[t], expected, rtol=1e-9)
    assert np.isnan(rolling[:20]).all()


def test_realized_vol_skips_missing_days_and_needs_80_percent_of_the_window() -> None:
    r = wandering_vol_returns(3, days=100, series=1)[:, 0]
    gappy = r.copy()
    gappy[-21:][[2, 9, 15, 20]] = np.nan  # 17 of 21 days left: enough
    window = gappy[-21:]
    expected = np.std(window[np.isfinite(window)], ddof=1) * SQRT_252
    assert volatility_on_last_day(gappy).realized_vol_21d[0] == pytest.approx(expected, rel=1e-10)
    gappy[-21:][[0, 1]] = np.nan  # 15 of 21: not enough
    assert np.isnan(volatility_on_last_day(gappy).realized_vol_21d[0])


def test_constant_price_has_zero_vol_no_har_fit_and_a_stable_trend() -> None:
    result = volatility_on_last_day(np.zeros((300, 1)))
    assert result.realized_vol_21d[0] == 0.0 and result.realized_vol_63d[0] == 0.0
    assert np.isnan(result.har.expected_vol[0])
    assert HAR_SKIP_REASONS[result.har.reason_code[0]] == HAR_SKIP_REASONS[2]  # flat price
    assert trend_label(result.trend_code[0]) == "stable" and result.trend_strength[0] == 0.0


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
    codes, strengths = trend_codes(np.array([short]), np.array([long]))
    assert trend_label(codes[0]) == trend
    assert strengths[0] == pytest.approx(strength)


def test_trend_is_none_when_a_vol_is_missing() -> None:
    codes, strengths = trend_codes(np.array([0.2]), np.array([np.nan]))
    assert codes[0] == -1 and trend_label(codes[0]) is None and np.isnan(strengths[0])


def _percentile_today(rolling_vol: np.ndarray) -> float:
    last = np.array([rolling_vol.shape[0] - 1])
    return float(percentiles_at(rolling_vol[:, None], last, np.zeros(1, dtype=np.intp))[0, 0])


def test_percentile_counts_vols_at_or_below_today_in_the_last_252_days() -> None:
    history = np.arange(1.0, 301.0)  # strictly rising: today is the highest
    history[-1] = 100.5  # ... until today, which beats the 252-window's values 49..100
    got = _percentile_today(history)
    window = history[-252:]
    assert got == pytest.approx((window <= 100.5).sum() / 252)
    assert got == pytest.approx(53 / 252)


def test_percentile_needs_63_days_of_history() -> None:
    assert np.isnan(_percentile_today(np.arange(62.0)))
    assert _percentile_today(np.arange(63.0)) == pytest.approx(1.0)


def test_every_figure_at_many_dates_equals_one_date_on_each_window() -> None:
    r = wandering_vol_returns(13, days=330, series=3)
    r[150:156, 0] = np.nan  # a gap: windows around it miss days
    r[-40:, 2] = 0.0  # stops moving: zero vols, a flat HAR sample
    ends = np.arange(0, 330)
    many = volatility_at(r, ends, history=260)
    for k, t in enumerate(ends.tolist()):
        one = volatility_on_last_day(r[max(0, t + 1 - 260) : t + 1])
        at = many.at(k)
        assert at.trend_code.tolist() == one.trend_code.tolist(), t
        assert at.har.reason_code.tolist() == one.har.reason_code.tolist(), t
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
    r = wandering_vol_returns(8, series=7)
    r[10:40, 2] = np.nan
    monkeypatch.setattr("app.formulas.blocks.SERIES_BLOCK", 3)
    monkeypatch.setattr("app.formulas.blocks.BLOCK_CELLS", 0)
    for ends in (np.array([299]), np.array([150, 151, 200, 299])):
        one = _figures(volatility_at(r, ends, history=250, threads=1))
        two = _figures(volatility_at(r, ends, history=250, threads=2))
        for name, values in one.items():
            np.testing.assert_array_equal(two[name], values, err_msg=name)


def test_series_computed_in_blocks_get_exactly_the_figures_of_one_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = wandering_vol_returns(7, series=7)
    r[10:40, 2] = np.nan  # a block with holes and blocks without go different ways
    ends = np.array([150, 151, 200, 299])
    whole = _figures(volatility_at(r, ends, history=250))
    monkeypatch.setattr("app.formulas.blocks.SERIES_BLOCK", 3)
    monkeypatch.setattr("app.formulas.blocks.BLOCK_CELLS", 0)
    blocked = _figures(volatility_at(r, ends, history=250))
    for j in range(r.shape[1]):
        alone = _figures(volatility_at(r[:, [j]], ends, history=250))
        for name, values in alone.items():
            np.testing.assert_array_equal(blocked[name][:, j : j + 1], values, err_msg=name)
            np.testing.assert_array_equal(whole[name][:, j : j + 1], values, err_msg=name)
