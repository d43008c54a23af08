"""Single-factor OLS beta against the market, for many series at once.

For each column y of ``asset_returns`` (days, series) and the market return x (days,):

    y_t = alpha + beta * x_t + e_t        over the days where both are finite

    beta      = Sxy / Sxx                  (S.. = centred sums over the used days)
    alpha     = mean(y) - beta * mean(x)
    r_squared = 1 - SSR / Syy,  SSR = Syy - beta * Sxy
    std_error = sqrt(SSR / (n - 2) / Sxx)                      (classical OLS, n - 2 dof)
    p_value   = 2 * P(T > |beta / std_error|),  T ~ Student t with n - 2 dof (two-sided)

These are exactly statsmodels' ``OLS(y, add_constant(x))`` results, computed in closed
form with two passes (means first, then centred sums) so that thousands of series cost
one array operation instead of one model fit each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.risk.returns import FloatArray

MIN_OBSERVATIONS = 30
"""Below this many aligned daily returns a beta is not estimated (a stated skip)."""


@dataclass(frozen=True)
class BetaResult:
    """Per-series OLS statistics; NaN where ``skip_reason`` says why there is no estimate."""

    beta: FloatArray
    alpha: FloatArray
    r_squared: FloatArray
    std_error: FloatArray
    p_value: FloatArray
    t_stat: FloatArray
    observations: NDArray[np.int64]
    skip_reason: list[str | None]

    @property
    def valid(self) -> NDArray[np.bool_]:
        return np.array([r is None for r in self.skip_reason], dtype=bool)


def ols_beta(
    asset_returns: FloatArray,
    market_returns: FloatArray,
    *,
    min_observations: int = MIN_OBSERVATIONS,
) -> BetaResult:
    """OLS of each asset's returns on the market's, using the days where both exist."""
    y = np.asarray(asset_returns, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    x = np.asarray(market_returns, dtype=np.float64).reshape(-1, 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"asset rows {y.shape[0]} != market rows {x.shape[0]}")

    used = np.isfinite(y) & np.isfinite(x)
    n = used.sum(axis=0)
    n_safe = np.maximum(n, 1)
    xm = np.where(used, x, 0.0)
    ym = np.where(used, y, 0.0)
    x_bar = xm.sum(axis=0) / n_safe
    y_bar = ym.sum(axis=0) / n_safe
    dx = np.where(used, x - x_bar, 0.0)
    dy = np.where(used, y - y_bar, 0.0)
    sxx = (dx * dx).sum(axis=0)
    syy = (dy * dy).sum(axis=0)
    sxy = (dx * dy).sum(axis=0)

    with np.errstate(divide="ignore", invalid="ignore"):
        beta = sxy / sxx
        alpha = y_bar - beta * x_bar
        # Rounding can push a perfect fit's SSR a hair below zero.
        ssr = np.maximum(syy - beta * sxy, 0.0)
        r_squared = np.clip(1.0 - ssr / syy, 0.0, 1.0)
        dof = n - 2
        std_error = np.sqrt(ssr / np.maximum(dof, 1) / sxx)
        t_stat = beta / std_error
    # Imported here: SciPy costs every process that imports the API or a script (through
    # app.risk.book) most of a second at start-up, and only this line needs it.
    from scipy.special import stdtr

    # Two-sided: P(|T| > |t|) = 2 * CDF(-|t|) of Student's t with dof degrees of freedom.
    p_value = 2.0 * stdtr(np.maximum(dof, 1), -np.abs(t_stat))
    # A perfect fit (std_error 0) has |t| = inf: p = 0, which stdtr already gives.

    reasons: list[str | None] = []
    for count, vx, vy in zip(n.tolist(), sxx.tolist(), syy.tolist(), strict=True):
        if count < min_observations:
            reasons.append(f"{count} aligned daily returns, fewer than {min_observations}")
        elif vx <= 0:
            reasons.append("market returns have no variance in the window")
        elif vy <= 0:
            reasons.append("price did not move in the window (zero return variance)")
        else:
            reasons.append(None)
    invalid = np.array([r is not None for r in reasons], dtype=bool)
    for arr in (beta, alpha, r_squared, std_error, p_value, t_stat):
        arr[invalid] = np.nan
    return BetaResult(
        beta=beta,
        alpha=alpha,
        r_squared=r_squared,
        std_error=std_error,
        p_value=p_value,
        t_stat=t_stat,
        observations=n.astype(np.int64),
        skip_reason=reasons,
    )
