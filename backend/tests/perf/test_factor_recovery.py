"""Known loadings are recovered by the factor engine, per loading and per position (the
loading vector within its joint region); nearly collinear factors take the ridge
(perf/factor_recovery.py, smaller)."""

from __future__ import annotations

import math

from perf.factor_recovery import GOAL, JOINT_LEVEL, recover


def test_set_loadings_are_recovered_within_two_standard_errors() -> None:
    # 35,000 loadings: the share's sampling error (~0.1 %) is well inside the distance
    # between the goal and what correct standard errors give (~95.3 %).
    run = recover(seed=25, positions=5000, days=252)
    assert run.loadings == 5000 * 7
    assert run.within_two_se >= GOAL
    assert run.ridge_fits == 0.0  # well-conditioned factors: plain OLS


def test_positions_loading_vectors_lie_within_their_joint_region() -> None:
    # 1,000 positions: the share's sampling sd is ~0.66 %, so standard errors off by a
    # tenth either way (joint shares ~90 % and ~98.5 %) leave the 3-sd band.
    run = recover(seed=25, positions=1000, days=252)
    jointly = run.positions_jointly_within
    assert jointly is not None
    assert jointly >= GOAL
    assert abs(jointly - JOINT_LEVEL) <= 3 * math.sqrt(JOINT_LEVEL * (1 - JOINT_LEVEL) / 1000)
    # The naive reading (all 7 within 2 SE) is near what independence gives, far below.
    naive = run.expected_all_within
    assert abs(run.positions_all_within - naive) <= 3 * math.sqrt(naive * (1 - naive) / 1000)
    assert run.positions_all_within < GOAL - 0.1


def test_nearly_collinear_factors_take_the_ridge_and_keep_the_pairs_sum() -> None:
    run = recover(seed=25, positions=100, days=252, collinear=True)
    assert run.ridge_fits == 1.0
    assert run.median_condition_number > 1000
    assert run.combined_error is not None and run.combined_error < 0.2
    assert run.within_two_se >= 0.9
