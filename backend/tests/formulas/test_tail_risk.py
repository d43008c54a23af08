"""Tail risk against empyrical (drawdown, Sharpe, Sortino, annualised vol), the VaR recipe
written out as loops, closed forms of known distributions, the skip rules, and columns
computed together against each alone."""

from __future__ import annotations

import math

import arch.data.sp500
import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from app.formulas.returns import simple_returns
from app.formulas.tail_risk import (
    EWMA_LAMBDA,
    EWMA_SEED,
    MIN_VAR_RESIDUALS,
    PERFORMANCE_WINDOW,
    VAR_METHOD,
    VAR_WINDOW,
    TailRiskResult,
    daily_risk_free,
    standardized_tail,
    tail_risk_at,
)
from app.formulas.volatility import volatility_at

FIGURES = (
    "var_95_1d",
    "var_99_1d",
    "expected_shortfall_975_1d",
    "var_975_1d",
    "volatility_forecast_1d",
    "tail_shape",
    "max_drawdown_252d",
    "current_drawdown",
    "sharpe_252d",
    "sortino_252d",
)
REASONS = ("var_reason_code", "drawdown_reason_code", "sharpe_reason_code", "sortino_reason_code")
PROPERTIES = settings(max_examples=40, deadline=None)


def _returns(seed: int, days: int = 1400, columns: int = 1) -> np.ndarray:
    """Student-t(5) returns with a wandering volatility, (days, columns)."""
    rng = np.random.default_rng(seed)
    sigma = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.05, (days, columns)), axis=0))
    return np.asarray(0.0003 + 0.8 * rng.standard_t(5, (days, columns)) * sigma)


@pytest.fixture(scope="module")
def sp500_closes() -> pd.Series:
    closes: pd.Series = arch.data.sp500.load()["Adj Close"]
    return closes


@pytest.fixture(scope="module")
def sp500(sp500_closes: pd.Series) -> np.ndarray:
    """The S&P 500's daily returns 1999-2018 (arch's data); row t ends on closes' day t + 1."""
    return np.asarray(simple_returns(sp500_closes.to_numpy())[:, 0])


def _rows(closes: pd.Series, *days: str) -> np.ndarray:
    """The return rows ending on ``days``."""
    return np.array([closes.index.get_loc(pd.Timestamp(d)) - 1 for d in days])


def _reference_var(r: np.ndarray, lam: float = EWMA_LAMBDA) -> tuple[float, ...]:
    """The module docstring's VaR recipe with explicit loops, on one column's returns:
    var_95, var_99, es_975, var_975."""
    r = r[-(EWMA_SEED + VAR_WINDOW) :]
    variance = sum(x * x for x in r[:EWMA_SEED]) / EWMA_SEED
    losses = []
    for x in r[EWMA_SEED:]:
        losses.append(-x / math.sqrt(variance))
        variance = lam * variance + (1 - lam) * x * x
    sigma = math.sqrt(variance)
    y = sorted(losses)
    m = len(y)
    k = int(0.1 * m)
    u = y[m - k - 1]
    e = [y[m - k + j] - u for j in range(k)]
    a0 = sum(e) / k
    a1 = sum(e[j] * (k - 1 - j) / (k - 1) for j in range(k)) / k
    xi = 2 - a0 / (a0 - 2 * a1)
    beta = 2 * a0 * a1 / (a0 - 2 * a1)

    def q(p: float) -> float:
        return u + beta / xi * ((m / k * (1 - p)) ** -xi - 1)

    es = (q(0.975) + beta - xi * u) / (1 - xi)
    return sigma * float(np.quantile(y, 0.95)), sigma * q(0.99), sigma * es, sigma * q(0.975)


# --- against empyrical --------------------------------------------------------------


@pytest.mark.parametrize("annual_rate", [0.0, 0.045])
def test_drawdown_sharpe_sortino_equal_empyrical_on_the_same_252_returns(
    sp500: np.ndarray, sp500_closes: pd.Series, annual_rate: float
) -> None:
    # The 2009 low (a year of falls), 2013 (a calm rise), the end of 2018 (a late fall).
    ends = _rows(sp500_closes, "2009-03-09", "2007-10-09", "2013-12-31", "2018-12-24")
    result = tail_risk_at(sp500, ends, risk_free_rate=annual_rate)
    rf = daily_risk_free(annual_rate)
    for k, end in enumerate(ends):
        window = sp500[end + 1 - PERFORMANCE_WINDOW : end + 1]
        drawdowns = empyrical.stats.drawdown_series(window)
        assert result.max_drawdown_252d[k] == pytest.approx(
            -empyrical.max_drawdown(window), abs=1e-9
        )
        assert result.current_drawdown[k] == pytest.approx(-drawdowns[-1], abs=1e-9)
        assert result.sharpe_252d[k] == pytest.approx(
            empyrical.sharpe_ratio(window, risk_free=rf), abs=1e-9
        )
        assert result.sortino_252d[k] == pytest.approx(
            empyrical.sortino_ratio(window, required_return=rf), abs=1e-9
        )
    assert result.max_drawdown_252d[0] > 0.4 and result.sharpe_252d[0] < 0  # the crash
    assert result.current_drawdown[1] == 0.0  # a record close


def test_sortino_divides_by_the_downside_deviation_over_all_days() -> None:
    # Downside deviation (Sortino & Price): sqrt(mean over ALL days of min(x, 0)^2), not
    # the standard deviation of the negative days. Here, 63 repeats of (+3 %, -1 %, +1 %,
    # -2 %): mean 0.25 %, DD = sqrt((0.01^2 + 0.02^2) / 4) = sqrt(0.000125).
    r = np.tile([0.03, -0.01, 0.01, -0.02], 63)
    result = tail_risk_at(r, np.array([r.size - 1]))
    expected = math.sqrt(252) * 0.0025 / math.sqrt(0.000125)
    assert result.sortino_252d[0] == pytest.approx(expected, rel=1e-12)
    std_of_negatives = np.std([-0.01, -0.02] * 63, ddof=1)
    assert not math.isclose(expected, math.sqrt(252) * 0.0025 / std_of_negatives, rel_tol=0.1)


def test_annualised_volatility_equals_empyrical(sp500: np.ndarray) -> None:
    ends = np.array([2500, 3700])
    vols = volatility_at(sp500, ends)
    for k, end in enumerate(ends):
        for window, vol in ((21, vols.realized_vol_21d), (63, vols.realized_vol_63d)):
            expected = empyrical.annual_volatility(sp500[end + 1 - window : end + 1])
            assert vol[k, 0] == pytest.approx(expected, abs=1e-9)


def test_daily_risk_free_compounds_to_the_annual_rate_over_252_days() -> None:
    assert (1 + daily_risk_free(0.05)) ** 252 == pytest.approx(1.05, rel=1e-14)
    assert daily_risk_free(0.0) == 0.0


# --- the VaR model -------------------------------------------------------------------


def test_var_and_es_follow_the_documented_recipe(sp500: np.ndarray) -> None:
    ends = np.array([1100, 2450, 4000, sp500.size - 1])  # incl. Oct 2008
    result = tail_risk_at(sp500, ends)
    assert result.var_method == VAR_METHOD == "FHS_EWMA90_GPD"
    for k, end in enumerate(ends):
        got = (
            result.var_95_1d[k],
            result.var_99_1d[k],
            result.expected_shortfall_975_1d[k],
            result.var_975_1d[k],
        )
        np.testing.assert_allclose(got, _reference_var(sp500[: end + 1]), rtol=1e-10)
        assert result.expected_shortfall_975_1d[k] > result.var_975_1d[k] > 0


def test_the_filter_reacts_to_a_volatility_jump_within_days() -> None:
    rng = np.random.default_rng(5)
    r = np.concatenate([rng.normal(0, 0.005, 1200), rng.normal(0, 0.03, 10)])
    result = tail_risk_at(r, np.array([1199, 1204, 1209]))
    calm, after_5, after_10 = result.var_99_1d
    assert after_5 > 2.5 * calm and after_10 > 3.5 * calm


def test_standardized_tail_of_a_normal_sample_matches_its_closed_forms() -> None:
    # 10^6 N(0, 1) losses. Tolerances: over 40 seeds the relative errors had standard
    # deviations of 0.13 % (95 %), 0.15 % (99 %) and 0.15 % (ES), and the GPD fitted above
    # the 90 % quantile biases the normal's 99 % quantile by +0.36 % (its tail is not
    # exactly GPD there): bias + 4 standard deviations.
    n = 1_000_000
    losses = np.sort(np.random.default_rng(1).standard_normal(n))[None]
    tail = standardized_tail(losses, np.array([n]))
    z95, z975, z99 = stats.norm.ppf([0.95, 0.975, 0.99])
    assert tail.q95[0] == pytest.approx(z95, rel=0.006)
    assert tail.q99[0] == pytest.approx(z99, rel=0.01)
    assert tail.es975[0] == pytest.approx(stats.norm.pdf(z975) / 0.025, rel=0.007)
    # The normal's tail is GPD with xi = 0 only in the limit; above its 90 % quantile its
    # excesses look like a GPD with a bounded tail (xi < 0).
    assert -0.3 < tail.shape[0] < 0


def test_standardized_tail_of_a_gpd_sample_matches_its_closed_forms() -> None:
    # 10^6 GPD(xi = 0.25, beta = 1) losses (the tail index of a Student t with 4 degrees
    # of freedom). Above any threshold u a GPD stays GPD(xi, beta + xi u), so the fit
    # has no model bias: q_p = beta / xi ((1 - p)^-xi - 1), ES_p = (q_p + beta) / (1 - xi).
    # Tolerances: over 40 seeds the relative errors had standard deviations of 0.22 %,
    # 0.30 % and 0.42 %, xi's 0.005: 4 to 5 standard deviations.
    xi, beta, n = 0.25, 1.0, 1_000_000
    sample = stats.genpareto.rvs(xi, scale=beta, size=n, random_state=np.random.default_rng(2))
    tail = standardized_tail(np.sort(sample)[None], np.array([n]))

    def q(p: float) -> float:
        return beta / xi * ((1 - p) ** -xi - 1)

    assert tail.shape[0] == pytest.approx(xi, abs=0.025)
    assert tail.q95[0] == pytest.approx(q(0.95), rel=0.01)
    assert tail.q99[0] == pytest.approx(q(0.99), rel=0.015)
    assert tail.es975[0] == pytest.approx((q(0.975) + beta) / (1 - xi), rel=0.02)


# --- skips ---------------------------------------------------------------------------


def test_short_histories_give_nan_with_the_reason() -> None:
    r = _returns(3, days=400)[:, 0]
    var_minimum = EWMA_SEED + MIN_VAR_RESIDUALS
    ends = np.array([var_minimum - 2, var_minimum - 1, PERFORMANCE_WINDOW - 2])
    result = tail_risk_at(r, ends)
    assert np.isnan(result.var_99_1d[0]) and np.isnan(result.expected_shortfall_975_1d[0])
    assert result.reason("var", 0) == f"{var_minimum - 1} daily returns, fewer than 273"
    assert np.isfinite(result.var_99_1d[1]) and result.reason("var", 1) is None
    assert np.isfinite(result.sharpe_252d[1])
    for figure in ("max_drawdown_252d", "current_drawdown", "sharpe_252d", "sortino_252d"):
        assert np.isnan(getattr(result, figure)[2])
    for figure in ("drawdown", "sharpe", "sortino"):
        assert result.reason(figure, 2) == "251 daily returns, fewer than 252"


def test_flat_and_never_losing_series_give_nan_with_the_reason() -> None:
    flat = np.zeros(600)
    rising = np.full(600, 0.001) + np.random.default_rng(4).uniform(0, 1e-3, 600)
    result = tail_risk_at(np.column_stack([flat, rising]), np.array([599, 599]))
    assert np.isnan(result.var_99_1d[0]) and np.isnan(result.sharpe_252d[0])
    assert result.reason("var", 0) == "the returns did not vary in the window"
    assert result.reason("sharpe", 0) == "the returns did not vary in the window"
    assert result.max_drawdown_252d[0] == 0.0 == result.current_drawdown[0]
    assert np.isfinite(result.sharpe_252d[1]) and np.isnan(result.sortino_252d[1])
    assert result.reason("sortino", 1) == (
        "no excess return below zero in the window (downside deviation 0)"
    )
    assert result.max_drawdown_252d[1] == 0.0


def test_bad_arguments_are_refused() -> None:
    r = _returns(6, days=300, columns=2)
    with pytest.raises(ValueError, match="2 return columns for 3 ends"):
        tail_risk_at(r, np.array([100, 200, 299]))
    with pytest.raises(ValueError, match="outside rows"):
        tail_risk_at(r, np.array([100, 300]))
    with pytest.raises(ValueError, match="history must be positive"):
        tail_risk_at(r, np.array([100, 200]), history=0)


# --- vectorised over dates ----------------------------------------------------------


def _each_alone(returns: np.ndarray, ends: np.ndarray, **kwargs: int) -> list[TailRiskResult]:
    return [tail_risk_at(returns[:, [k]], ends[k : k + 1], **kwargs) for k in range(ends.size)]


@pytest.mark.parametrize("history", [None, 1100, 300])
def test_columns_together_equal_each_column_alone_bit_for_bit(history: int | None) -> None:
    r = _returns(7, days=1600, columns=300)  # two blocks of columns
    r[:200, ::7] = np.nan  # some books start later
    ends = np.sort(np.random.default_rng(8).integers(250, 1600, 300))
    together = tail_risk_at(r, ends, history=history)
    for k, alone in enumerate(_each_alone(r, ends, history=history or 10**6)):
        for name in (*FIGURES, *REASONS, "observations"):
            np.testing.assert_array_equal(getattr(together, name)[k], getattr(alone, name)[0])


def test_one_shared_column_equals_the_column_repeated(sp500: np.ndarray) -> None:
    ends = np.arange(2400, 2520)
    shared = tail_risk_at(sp500, ends)
    repeated = tail_risk_at(np.repeat(sp500[:, None], ends.size, axis=1), ends)
    for name in FIGURES:
        np.testing.assert_array_equal(getattr(shared, name), getattr(repeated, name))


def test_missing_days_are_skipped_like_a_series_without_them() -> None:
    r = _returns(9, days=1500)[:, 0]
    gappy = r.copy()
    gone = np.random.default_rng(10).choice(np.arange(100, 1499), 60, replace=False)
    gappy[gone] = np.nan
    kept = gappy[np.isfinite(gappy)]
    with_gaps = tail_risk_at(gappy, np.array([1499]))
    without = tail_risk_at(kept, np.array([kept.size - 1]))
    assert with_gaps.observations[0] == kept.size
    for name in FIGURES:
        np.testing.assert_array_equal(getattr(with_gaps, name), getattr(without, name))


def test_a_history_cap_uses_only_the_rows_inside_it() -> None:
    r = _returns(11, days=1400)[:, 0]
    capped = tail_risk_at(r, np.array([1399]), history=600)
    alone = tail_risk_at(r[800:], np.array([599]))
    assert capped.observations[0] == 600
    for name in FIGURES:
        np.testing.assert_array_equal(getattr(capped, name), getattr(alone, name))


# --- properties ----------------------------------------------------------------------


@PROPERTIES
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.01, 50.0))
def test_var_and_es_scale_with_the_returns_and_sharpe_does_not(seed: int, scale: float) -> None:
    r = _returns(seed, days=700)[:, 0]
    base = tail_risk_at(r, np.array([699]))
    scaled = tail_risk_at(r * scale, np.array([699]))
    for name in ("var_95_1d", "var_99_1d", "expected_shortfall_975_1d", "var_975_1d"):
        assert getattr(scaled, name)[0] == pytest.approx(scale * getattr(base, name)[0], rel=1e-9)
    assert scaled.tail_shape[0] == pytest.approx(base.tail_shape[0], rel=1e-9, abs=1e-12)
    assert scaled.sharpe_252d[0] == pytest.approx(base.sharpe_252d[0], rel=1e-9)
    assert scaled.sortino_252d[0] == pytest.approx(base.sortino_252d[0], rel=1e-9)


@PROPERTIES
@given(seed=st.integers(0, 2**32 - 1), days=st.integers(273, 1300))
def test_figures_keep_their_order_and_ranges(seed: int, days: int) -> None:
    r = np.clip(_returns(seed, days=days)[:, 0], -0.5, 0.5)
    result = tail_risk_at(r, np.array([days - 1]))
    assert result.expected_shortfall_975_1d[0] > result.var_975_1d[0]
    assert result.volatility_forecast_1d[0] > 0
    assert 0.0 <= result.current_drawdown[0] <= result.max_drawdown_252d[0] < 1.0
    assert result.tail_shape[0] < 1.0  # PWM: ES is always finite
