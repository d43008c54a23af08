"""Correlations of a book's holdings over a window, and its diversification ratio.

Pure numpy: daily returns in, figures out. Returns are shaped (days, holdings) with NaN
where a holding has no return that day. One set of days serves the whole matrix (the
days on which every holding kept has a return), so the matrix is a true correlation
matrix (positive semi-definite) and the ratio's portfolio variance is consistent with it.

The diversification ratio of signed weights w, daily volatilities s and covariance C is
sum_i |w_i| s_i / sqrt(w' C w): 1 when the holdings move as one, larger the more their
moves offset (sqrt(n) for n uncorrelated holdings of equal weight and volatility).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.formulas.returns import FloatArray

_OFFSET_TOLERANCE = 1e-12
"""Relative portfolio variance under which the holdings are taken to offset exactly."""


@dataclass(frozen=True)
class HoldingCorrelations:
    kept: NDArray[np.intp]
    """Columns of the returns kept, in their input order."""
    correlation: FloatArray
    """(kept, kept): the correlation of the kept holdings' daily returns."""
    daily_vols: FloatArray
    """(kept,): each kept holding's sample standard deviation of daily returns."""
    observations: int
    """Days used: those on which every kept holding has a return."""
    diversification_ratio: float | None
    diversification_reason: str | None = None
    """Why the ratio is None; None when there is one."""
    left_out: dict[int, str] = field(default_factory=dict)
    """Column -> why it is not in the matrix."""


def holding_correlations(
    returns: FloatArray, weights: FloatArray, *, needed: int
) -> HoldingCorrelations:
    """The correlation matrix of the columns of ``returns`` that have at least ``needed``
    days with a return in common, and the diversification ratio of their signed
    ``weights``.

    A column with fewer than ``needed`` returns is left out; while the kept columns share
    fewer than ``needed`` days, the one with the fewest returns (the later column on a
    tie: the smaller holding, when columns come largest first) is left out; a column whose
    returns do not vary has no correlation and is left out. Each gets its reason.
    """
    r = np.asarray(returns, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    days, columns = r.shape
    has = np.isfinite(r)
    counts = has.sum(axis=0)
    left_out: dict[int, str] = {}
    kept = [j for j in range(columns) if counts[j] >= needed]
    for j in range(columns):
        if counts[j] < needed:
            left_out[j] = f"{counts[j]} of {days} days with a return, at least {needed} needed"
    while kept:
        common = has[:, kept].all(axis=1)
        if common.sum() >= needed:
            break
        fewest = min(kept, key=lambda j: (counts[j], -j))
        kept.remove(fewest)
        left_out[fewest] = (
            f"its returns and the other holdings' fall on fewer than {needed} common days"
        )
    common = has[:, kept].all(axis=1) if kept else np.zeros(days, dtype=bool)
    flat = [j for j in kept if np.ptp(r[common, j]) == 0.0]
    for j in flat:
        kept.remove(j)
        left_out[j] = "its price did not move in the window: no correlation"
    if flat:
        common = has[:, kept].all(axis=1) if kept else np.zeros(days, dtype=bool)

    index = np.array(kept, dtype=np.intp)
    if not kept:
        return HoldingCorrelations(
            index,
            np.zeros((0, 0)),
            np.zeros(0),
            0,
            None,
            "no holding has enough returns in the window",
            left_out,
        )
    x = r[np.ix_(common, index)]
    covariance = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    vols = np.sqrt(np.diag(covariance))
    correlation = np.clip(covariance / np.outer(vols, vols), -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    ratio, reason = diversification_ratio(w[index], vols, covariance)
    return HoldingCorrelations(index, correlation, vols, int(common.sum()), ratio, reason, left_out)


def diversification_ratio(
    weights: FloatArray, vols: FloatArray, covariance: FloatArray
) -> tuple[float | None, str | None]:
    """sum |w_i| s_i / sqrt(w' C w), or None with the reason it cannot be had."""
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or not np.any(w):
        return None, "the holdings have no weight"
    weighted_vols = float(np.abs(w) @ vols)
    variance = float(w @ covariance @ w)
    if variance <= _OFFSET_TOLERANCE * weighted_vols**2:
        return None, "the holdings' moves offset each other exactly: the book does not move"
    return float(weighted_vols / np.sqrt(variance)), None
