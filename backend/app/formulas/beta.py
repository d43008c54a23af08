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

from app.formulas.blocks import map_blocks, series_blocks
from app.formulas.returns import FloatArray
from app.formulas.windows import IntArray, window_sums

MIN_OBSERVATIONS = 30
"""Below this many aligned daily returns a beta is not estimated (a stated skip)."""


BETA_SKIP_REASONS = (
    None,
    "{count} aligned daily returns, fewer than {minimum}",
    "market returns have no variance in the window",
    "price did not move in the window (zero return variance)",
)
"""Messages for ``BetaResult.reason_code`` (0: a beta was estimated)."""
_TOO_FEW, _MARKET_FLAT, _SERIES_FLAT = 1, 2, 3
_RELATIVE_TOLERANCE = 1e-12
"""A centred sum of squares below this share of the raw one is rounding noise."""


@dataclass(frozen=True)
class BetaResult:
    """Per-series OLS statistics, shape (series,) or (dates, series); NaN where
    ``reason_code`` says why there is no estimate."""

    beta: FloatArray
    alpha: FloatArray
    r_squared: FloatArray
    std_error: FloatArray
    p_value: FloatArray
    t_stat: FloatArray
    observations: NDArray[np.int64]
    reason_code: NDArray[np.int8]
    min_observations: int = MIN_OBSERVATIONS

    def reason(self, index: int | tuple[int, int]) -> str | None:
        """Why the estimate at ``index`` is missing (None when there is one)."""
        code = int(self.reason_code[index])
        message = BETA_SKIP_REASONS[code]
        if message is None:
            return None
        return message.format(count=int(self.observations[index]), minimum=self.min_observations)

    def at(self, k: int) -> BetaResult:
        """Date ``k`` of a (dates, series) result, as a (series,) one."""
        return BetaResult(
            beta=self.beta[k],
            alpha=self.alpha[k],
            r_squared=self.r_squared[k],
            std_error=self.std_error[k],
            p_value=self.p_value[k],
            t_stat=self.t_stat[k],
            observations=self.observations[k],
            reason_code=self.reason_code[k],
            min_observations=self.min_observations,
        )


def _centred_one_window(
    x: FloatArray, y: FloatArray, used: NDArray[np.bool_]
) -> tuple[FloatArray, ...]:
    # Two passes (means, then centred sums): exact for the one-date run.
    n = used.sum(axis=0)
    n_safe = np.maximum(n, 1)
    every = bool(used.all())  # the usual block: the returns themselves, no masked copies
    xm = np.where(used, x, 0.0)  # also spreads the market column over the series
    ym = y if every else np.where(used, y, 0.0)
    x_bar = xm.sum(axis=0) / n_safe
    y_bar = ym.sum(axis=0) / n_safe
    dx = xm - x_bar if every else np.where(used, x - x_bar, 0.0)
    dy = y - y_bar if every else np.where(used, y - y_bar, 0.0)
    sxx = (dx * dx).sum(axis=0)
    syy = (dy * dy).sum(axis=0)
    return (
        n[None].astype(np.float64),
        x_bar[None],
        y_bar[None],
        sxx[None],
        syy[None],
        (dx * dy).sum(axis=0)[None],
        (xm * xm).sum(axis=0)[None],
        (ym * ym).sum(axis=0)[None],
    )


def _centred_windows(
    x: FloatArray, y: FloatArray, used: NDArray[np.bool_], lo: IntArray, end: IntArray
) -> tuple[FloatArray, ...]:
    # Prefix sums of moments about each column's mean (the shift keeps the centred sums
    # free of cancellation), differenced per window.
    xu = np.where(used, x, 0.0)
    yu = np.where(used, y, 0.0)
    count = used.sum(axis=0)
    cx = xu.sum(axis=0) / np.maximum(count, 1)
    cy = yu.sum(axis=0) / np.maximum(count, 1)
    xs = np.where(used, x - cx, 0.0)
    ys = np.where(used, y - cy, 0.0)
    n = window_sums(used.astype(np.float64), lo, end)
    n_safe = np.maximum(n, 1.0)
    mx = window_sums(xs, lo, end) / n_safe
    my = window_sums(ys, lo, end) / n_safe
    raw_xx = window_sums(xs * xs, lo, end)
    raw_yy = window_sums(ys * ys, lo, end)
    sxx = raw_xx - n * mx * mx
    syy = raw_yy - n * my * my
    sxy = window_sums(xs * ys, lo, end) - n * mx * my
    return n, mx + cx, my + cy, sxx, syy, sxy, raw_xx, raw_yy


def ols_beta_at(
    asset_returns: FloatArray,
    market_returns: FloatArray,
    ends: IntArray,
    *,
    window: int,
    history: int | None = None,
    min_observations: int = MIN_OBSERVATIONS,
    threads: int | None = None,
) -> BetaResult:
    """OLS of each series' returns on the market's over the last ``window`` rows up to
    each row of ``ends`` (within the last ``history`` rows, when given), using the days
    where both exist, for every series at once: (dates, series).

    Row T's estimate uses rows max(T + 1 - window, T + 1 - history, 0)..T only."""
    y = np.asarray(asset_returns, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    x = np.asarray(market_returns, dtype=np.float64).reshape(-1, 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"asset rows {y.shape[0]} != market rows {x.shape[0]}")
    t = np.asarray(ends, dtype=np.intp)
    end = t + 1
    lo = np.maximum(0, end - window)
    if history is not None:
        lo = np.maximum(lo, end - history)
    used = np.isfinite(y) & np.isfinite(x)
    a, b = int(lo[0]), int(end[0])

    def moments(j: slice) -> tuple[FloatArray, ...]:
        if t.size == 1:
            return _centred_one_window(x[a:b], y[a:b, j], used[a:b, j])
        return _centred_windows(x, y[:, j], used[:, j], lo, end)

    rows = b - a if t.size == 1 else y.shape[0]
    blocks = map_blocks(moments, series_blocks(y.shape[1], rows, threads), threads)
    n, x_bar, y_bar, sxx, syy, sxy, raw_xx, raw_yy = (
        np.concatenate(parts, axis=1) for parts in zip(*blocks, strict=True)
    )
    count = np.rint(n).astype(np.int64)

    with np.errstate(divide="ignore", invalid="ignore"):
        beta = sxy / sxx
        alpha = y_bar - beta * x_bar
        # Rounding can push a perfect fit's SSR a hair below zero.
        ssr = np.maximum(syy - beta * sxy, 0.0)
        r_squared = np.clip(1.0 - ssr / syy, 0.0, 1.0)
        dof = count - 2
        std_error = np.sqrt(ssr / np.maximum(dof, 1) / sxx)
        t_stat = beta / std_error
    # Imported here: SciPy costs every process that imports the API or a script (through
    # app.formulas.book) most of a second at start-up, and only this line needs it.
    from scipy.special import stdtr

    # Two-sided: P(|T| > |t|) = 2 * CDF(-|t|) of Student's t with dof degrees of freedom.
    p_value = 2.0 * stdtr(np.maximum(dof, 1), -np.abs(t_stat))
    # A perfect fit (std_error 0) has |t| = inf: p = 0, which stdtr already gives.

    reason = np.zeros(count.shape, dtype=np.int8)
    reason[syy <= _RELATIVE_TOLERANCE * raw_yy] = _SERIES_FLAT
    reason[sxx <= _RELATIVE_TOLERANCE * raw_xx] = _MARKET_FLAT
    reason[count < min_observations] = _TOO_FEW
    invalid = reason != 0
    for arr in (beta, alpha, r_squared, std_error, p_value, t_stat):
        arr[invalid] = np.nan
    return BetaResult(
        beta=beta,
        alpha=alpha,
        r_squared=r_squared,
        std_error=std_error,
        p_value=p_value,
        t_stat=t_stat,
        observations=count,
        reason_code=reason,
        min_observations=min_observations,
    )
