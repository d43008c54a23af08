"""Window sums, trailing means and range extremes against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from app.formulas.windows import Moments, min_count, range_extreme, trailing_sums, window_sums


@pytest.mark.parametrize("gaps", [True, False], ids=["with-gaps", "every-return"])
def test_trailing_means_of_the_returns_match_a_plain_loop(gaps: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    if gaps:
        x[[5, 6, 20], 1] = np.nan
    moments = Moments.of(x)
    rows = np.arange(40, dtype=np.intp)
    total, count, mean = trailing_sums(moments.r, moments.n, rows, 5, min_count(5))
    for t in range(40):
        for j in range(3):
            window = x[max(0, t - 4) : t + 1, j]
            finite = window[np.isfinite(window)]
            if t < 4 or finite.size < 4:
                assert np.isnan(mean[t, j])
            else:
                assert mean[t, j] == pytest.approx(finite.mean(), abs=1e-12)
                assert np.broadcast_to(count, mean.shape)[t, j] == finite.size
                assert total[t, j] == pytest.approx(finite.sum(), abs=1e-12)
    squares = trailing_sums(moments.rv, moments.n, rows[10:30:3], 5, min_count(5))[0]
    for k, t in enumerate(range(10, 30, 3)):
        window = x[t - 4 : t + 1]
        np.testing.assert_allclose(squares[k], np.nansum(window**2, axis=0), atol=1e-12)


def test_a_window_counts_with_80_percent_of_its_days() -> None:
    assert [min_count(w) for w in (5, 21, 63)] == [4, 17, 51]


def test_window_sums_match_a_plain_loop_for_one_and_many_windows() -> None:
    a = np.random.default_rng(1).normal(size=(30, 2))
    lo, end = np.array([0, 3, 10, 12]), np.array([5, 3, 30, 11])  # one empty, one reversed
    many = window_sums(a, lo, end)
    for k in range(lo.size):
        np.testing.assert_allclose(many[k], a[lo[k] : end[k]].sum(axis=0), atol=1e-12)
        one = window_sums(a, lo[k : k + 1], end[k : k + 1])[0]
        np.testing.assert_allclose(one, a[lo[k] : end[k]].sum(axis=0), atol=1e-12)


@pytest.mark.parametrize("largest", [False, True])
def test_range_extremes_match_a_plain_loop(largest: bool) -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=(50, 2))
    lo = rng.integers(0, 50, 40)
    hi = rng.integers(0, 50, 40)  # some ranges empty (hi < lo)
    shared = np.full(6, 7)  # ranges that share their first row
    for lows, highs in ((lo, hi), (shared, np.array([7, 9, 20, 49, 3, 30])), (lo[:1], hi[:1])):
        got = range_extreme(values, lows, highs, largest=largest)
        for k in range(lows.size):
            chunk = values[lows[k] : highs[k] + 1]
            if chunk.shape[0] == 0:
                assert (got[k] == (-np.inf if largest else np.inf)).all()
            else:
                expected = chunk.max(axis=0) if largest else chunk.min(axis=0)
                np.testing.assert_array_equal(got[k], expected)
