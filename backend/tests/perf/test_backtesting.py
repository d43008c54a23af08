"""The VaR/ES backtest statistics against hand-computed examples; the backtest script's
historical-simulation anchor against numpy and its goal check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from app.formulas.tail_risk import VAR_METHOD
from perf.backtesting import (
    acerbi_szekely_z2,
    binomial_cdf,
    chi2_1_pvalue,
    christoffersen_independence,
    exceptions,
    kupiec_pof,
    traffic_light,
    transitions,
    zone_bounds,
)
from perf.var_backtest import (
    HS_LABEL,
    HS_WINDOW,
    Score,
    SeriesReport,
    goal,
    historical_simulation,
)


def _hits(days: int, at: list[int]) -> np.ndarray:
    hits = np.zeros(days, dtype=bool)
    hits[at] = True
    return hits


def test_exceptions_are_losses_strictly_beyond_the_var() -> None:
    losses = np.array([0.01, 0.02, 0.03, -0.05])
    assert exceptions(losses, np.full(4, 0.02)).tolist() == [False, False, True, False]


def test_chi2_p_value_is_scipys() -> None:
    for statistic in (0.0, 0.5, 3.841458820694124, 12.0):
        assert chi2_1_pvalue(statistic) == pytest.approx(stats.chi2.sf(statistic, 1), rel=1e-12)
    assert chi2_1_pvalue(3.841458820694124) == pytest.approx(0.05, rel=1e-12)


def test_kupiec_on_5_exceptions_in_250_days_at_99_percent() -> None:
    # By hand: observed rate 5/250 = 0.02;
    # LR = -2 [245 ln 0.99 + 5 ln 0.01 - 245 ln 0.98 - 5 ln 0.02]
    #    = -2 [245 ln(0.99/0.98) + 5 ln(0.5)] = -2 [2.487331 - 3.465736] = 1.956810;
    # p = P(chi2_1 > 1.956810) = 0.161855.
    lr, p = kupiec_pof(_hits(250, [3, 50, 100, 170, 249]), 0.01)
    assert lr == pytest.approx(1.956810, abs=1e-6)
    assert p == pytest.approx(0.161855, abs=1e-6)


def test_kupiec_of_no_exception_and_of_the_expected_rate() -> None:
    # No exception: LR = -2 T ln(1 - p) (0 ln 0 = 0); exactly the expected rate: LR = 0.
    lr, _ = kupiec_pof(np.zeros(500, dtype=bool), 0.01)
    assert lr == pytest.approx(-2 * 500 * math.log(0.99), rel=1e-12)
    lr, p = kupiec_pof(_hits(500, [10, 200, 300, 400, 499]), 0.01)
    assert lr == pytest.approx(0.0, abs=1e-12) and p == pytest.approx(1.0)


def test_christoffersen_on_a_hand_counted_sequence() -> None:
    # 0 1 1 1 0 0 0 0 0 1: pairs n00 = 4, n01 = 2, n10 = 1, n11 = 2;
    # pi = 4/9, pi01 = 2/6, pi11 = 2/3;
    # ln L0 = 5 ln(5/9) + 4 ln(4/9) = -6.182654, ln L1 = 6 ln(2/3) + 3 ln(1/3) = -5.728628;
    # LR = -2 (ln L0 - ln L1) = 0.908053, p = 0.340631.
    hits = np.array([0, 1, 1, 1, 0, 0, 0, 0, 0, 1], dtype=bool)
    assert transitions(hits) == (4, 2, 1, 2)
    lr, p = christoffersen_independence(hits)
    assert lr == pytest.approx(0.908053, abs=1e-6)
    assert p == pytest.approx(0.340631, abs=1e-6)


def test_christoffersen_when_exceptions_never_follow_each_other() -> None:
    # 0 0 1 0 0 1 0 0 1: n00 = 3, n01 = 3, n10 = 2, n11 = 0; pi = 3/8, pi01 = 3/6, pi11 = 0:
    # LR = -2 [5 ln(5/8) + 3 ln(3/8) - 3 ln(1/2) - 3 ln(1/2)] (0 ln 0 = 0).
    hits = _hits(9, [2, 5, 8])
    n00, n01, n10, n11 = transitions(hits)
    assert (n00, n01, n10, n11) == (3, 3, 2, 0)
    pi, pi01 = 3 / 8, 3 / 6
    expected = -2 * (
        5 * math.log(1 - pi) + 3 * math.log(pi) - 3 * math.log(1 - pi01) - 3 * math.log(pi01)
    )
    assert christoffersen_independence(hits)[0] == pytest.approx(expected, rel=1e-12)
    assert christoffersen_independence(np.zeros(100, dtype=bool)) == (0.0, 1.0)


def test_traffic_light_zones_are_the_basel_table() -> None:
    # The supervisory table's cumulative probabilities for 250 days at 99 %.
    table = [8.11, 28.58, 54.32, 75.81, 89.22, 95.88, 98.63, 99.60, 99.89, 99.97, 99.99]
    for x, percent in enumerate(table):
        assert 100 * binomial_cdf(x, 250, 0.01) == pytest.approx(percent, abs=0.005)
    assert zone_bounds(0.01) == (5, 10)


def test_traffic_light_counts_every_250_day_window() -> None:
    # Exceptions on days 0..9 of 260: the window starting on day i holds 10 - i of them
    # (i <= 10), so one red window (i = 0) and six at least yellow (i = 0..5).
    light = traffic_light(_hits(260, list(range(10))), 0.01)
    assert (light.windows, light.red_windows, light.yellow_or_red_windows) == (11, 1, 6)
    assert light.most_exceptions == 10
    assert traffic_light(_hits(100, [1]), 0.01).windows == 0


def test_acerbi_szekely_z2_by_hand() -> None:
    # 80 days at alpha = 2.5 %: T alpha = 2. Two exceptions of the 97.5 % VaR (0.02)
    # with losses 0.05 and 0.03 against ES 0.04: sum L/ES = 1.25 + 0.75 = 2, Z2 = 1 - 2/2
    # = 0 (the ES was right on average); ES 0.025 instead: 2 + 1.2 = 3.2, Z2 = -0.6.
    losses = np.zeros(80)
    losses[[7, 40]] = [0.05, 0.03]
    losses[41] = 0.019  # below the VaR: not in the sum
    var = np.full(80, 0.02)
    assert acerbi_szekely_z2(losses, var, np.full(80, 0.04)) == pytest.approx(0.0, abs=1e-12)
    assert acerbi_szekely_z2(losses, var, np.full(80, 0.025)) == pytest.approx(-0.6, abs=1e-12)
    assert acerbi_szekely_z2(np.zeros(80), var, np.full(80, 0.04)) == 1.0  # no exception


def test_historical_simulation_is_numpys_quantiles_of_the_last_252_losses() -> None:
    rng = np.random.default_rng(3)
    returns = rng.standard_t(4, 400) * 0.01
    rows = np.array([HS_WINDOW, 300, 399])
    hs = historical_simulation(returns, rows)
    for k, t in enumerate(rows):
        losses = -returns[t - HS_WINDOW : t]
        assert hs.var_95[k] == np.quantile(losses, 0.95)
        assert hs.var_99[k] == np.quantile(losses, 0.99)
        q975 = np.quantile(losses, 0.975)
        assert hs.var_975[k] == q975
        assert hs.es_975[k] == pytest.approx(losses[losses >= q975].mean(), rel=1e-12)
    with pytest.raises(ValueError, match="252 returns before the span"):
        historical_simulation(returns, np.array([100]))


def _report(christoffersen_p: float, hs_yellow_or_red: int) -> SeriesReport:
    report = SeriesReport("sp500", "2001-01-02", "2018-12-31", 4527, 0.5)
    report.scores = [
        Score("VaR 95 %", VAR_METHOD, 230, 0.0508, 0.8, 0.7, 0, 383),
        Score("VaR 95 %", HS_LABEL, 252, 0.0557, 0.09, 0.0, 256, 1193),
        Score("VaR 99 %", VAR_METHOD, 47, 0.0104, 0.8, christoffersen_p, 0, 412),
        Score("VaR 99 %", HS_LABEL, 75, 0.0166, 0.0, 0.009, 414, hs_yellow_or_red),
    ]
    return report


def test_the_goal_needs_every_check() -> None:
    assert goal(_report(0.099, 1612))["met"]
    missed = goal(_report(0.049, 1612))
    assert not missed["met"]
    assert [c for c, ok in missed["checks"].items() if not ok] == ["99 % Christoffersen p >= 0.05"]
    assert not goal(_report(0.099, 412))["met"]  # not fewer yellow-or-red windows than HS
