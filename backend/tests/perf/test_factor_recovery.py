"""Known loadings are recovered by the factor engine; nearly collinear factors take the
ridge (perf/factor_recovery.py, smaller)."""

from __future__ import annotations

from perf.factor_recovery import GOAL, recover


def test_set_loadings_are_recovered_within_two_standard_errors() -> None:
    # 35,000 loadings: the share's sampling error (~0.1 %) is well inside the distance
    # between the goal and what correct standard errors give (~95.3 %).
    run = recover(seed=25, positions=5000, days=252)
    assert run.loadings == 5000 * 7
    assert run.within_two_se >= GOAL
    assert run.ridge_fits == 0.0  # well-conditioned factors: plain OLS


def test_nearly_collinear_factors_take_the_ridge_and_keep_the_pairs_sum() -> None:
    run = recover(seed=25, positions=100, days=252, collinear=True)
    assert run.ridge_fits == 1.0
    assert run.median_condition_number > 1000
    assert run.combined_error is not None and run.combined_error < 0.2
    assert run.within_two_se >= 0.9
