"""Multi-factor exposures: a series' daily returns regressed on the factors' returns.

For a series y and the factor returns X (n days x k factors) over a window:

    y_t = alpha + sum_f b_f X_t,f + e_t        over the days where y and every X_f exist

    OLS:  b = (X1'X1)^-1 X1'y  with X1 = [1, X], solved by QR
          Cov(b) = s^2 [(X1'X1)^-1]_bb,  s^2 = SSR / (n - k - 1)   (the loadings' block)
          std_error_f = sqrt(Cov(b)_ff)
          t_f = b_f / std_error_f,  r_squared = 1 - SSR / Syy (centred)
          residual_vol = sqrt(252 s^2)  (the specific, annualised volatility)

These are statsmodels' ``OLS(y, add_constant(X))`` results. Where the factors are nearly
collinear the OLS loadings swing on noise, so the fit is guarded: the condition number of
the standardised regressors Z (each factor centred and divided by its standard deviation)
is sqrt(lambda_max / lambda_min) of their correlation matrix C; above CONDITION_LIMIT
(Belsley's 30: serious collinearity) the loadings come from a ridge regression on Z
instead, with the smallest penalty kappa that brings that condition number down to the
limit: (lambda_max + kappa) / (lambda_min + kappa) = CONDITION_LIMIT^2. Ridge:

    b_z = (Z'Z + n kappa I)^-1 Z'(y - mean y),  b_f = b_z,f / sd_f,  alpha = mean y - mean X b
    Cov(b_z) = s^2 A^-1 Z'Z A^-1  with A = Z'Z + n kappa I  (s^2 from the ridge residuals)

A ridge's t-statistics are those of a biased estimate: the fit reports that it is one.

A portfolio's exposure to a factor is the exposure-weighted sum of its positions' loadings
over the equity (:func:`portfolio_loadings`), the share of the gross exposure without one
scaled over, as app.formulas.book does for the market beta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.formulas.beta import MIN_OBSERVATIONS
from app.formulas.labels import ESTIMATORS
from app.formulas.returns import TRADING_DAYS_PER_YEAR, FloatArray
from app.formulas.windows import min_count

CONDITION_LIMIT = 30.0
"""Above this condition number of the standardised factor returns the loadings come from
a ridge regression (Belsley, Kuh and Welsch's threshold for serious collinearity)."""

PERFECT_FIT = 1e-20
"""A residual sum of squares below this share of Syy is rounding noise: a perfect fit,
whose standard errors are 0 and whose t-statistics do not exist."""

_FLAT = 1e-12
"""A centred sum of squares below this share of the raw one is a series that did not move."""


@dataclass(frozen=True)
class FactorFit:
    """One regression: arrays over the factors passed, in their order."""

    loadings: FloatArray
    covariance: FloatArray
    """(k, k): the estimated covariance of the loadings (statsmodels' ``cov_params()``
    without the intercept); the standard errors are the roots of its diagonal."""
    std_errors: FloatArray
    t_stats: FloatArray
    """NaN on a perfect fit (no residual)."""
    alpha: float
    r_squared: float
    residual_vol: float
    """The specific volatility: annualised standard deviation of the residuals."""
    observations: int
    condition_number: float
    """Of the standardised factor returns (inf: a factor is a combination of others)."""
    ridge_penalty: float
    """kappa of the ridge; 0.0 for plain OLS."""

    @property
    def estimator(self) -> str:
        return ESTIMATORS[1] if self.ridge_penalty > 0 else ESTIMATORS[0]

    @property
    def perfect(self) -> bool:
        return bool(np.isnan(self.t_stats).all() and (self.std_errors == 0).all())


def condition_number(z: FloatArray) -> tuple[float, FloatArray]:
    """sqrt(lambda_max / lambda_min) of the correlation matrix of standardised ``z``
    (n, k), and that matrix's eigenvalues (ascending)."""
    n = z.shape[0]
    eigenvalues = np.linalg.eigvalsh(z.T @ z / n)
    low, high = float(eigenvalues[0]), float(eigenvalues[-1])
    if low <= high * 1e-15:
        return float("inf"), eigenvalues
    return float(np.sqrt(high / low)), eigenvalues


def fit_factors(
    y: FloatArray,
    x: FloatArray,
    *,
    condition_limit: float = CONDITION_LIMIT,
    min_observations: int = MIN_OBSERVATIONS,
) -> FactorFit | str:
    """Regress ``y`` (n,) on the factor returns ``x`` (n, k) with an intercept, over the rows
    where all exist; the reason instead when there is no estimate."""
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64).reshape(y.shape[0], -1)
    used = np.isfinite(y) & np.isfinite(x).all(axis=1)
    (fit,) = _fit_block(y[used][:, None], x[used], condition_limit, min_observations)
    return fit


def fit_factors_many(
    y: FloatArray,
    x: FloatArray,
    *,
    condition_limit: float = CONDITION_LIMIT,
    min_observations: int = MIN_OBSERVATIONS,
) -> list[FactorFit | str]:
    """:func:`fit_factors` of every column of ``y`` (n, series) on ``x`` (n, k): the columns
    with a return on every day the factors have one share one decomposition of the factors
    (one QR or one ridge), the others are fitted one by one on their own days. The same
    numbers as column-by-column calls."""
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64).reshape(y.shape[0], -1)
    rows = np.isfinite(x).all(axis=1)
    whole = np.isfinite(y[rows]).all(axis=0)
    out: list[FactorFit | str] = [""] * y.shape[1]
    shared = np.flatnonzero(whole)
    if shared.size:
        fits = _fit_block(y[rows][:, shared], x[rows], condition_limit, min_observations)
        for j, fit in zip(shared.tolist(), fits, strict=True):
            out[j] = fit
    for j in np.flatnonzero(~whole).tolist():
        out[j] = fit_factors(
            y[:, j], x, condition_limit=condition_limit, min_observations=min_observations
        )
    return out


def _fit_block(
    y: FloatArray, x: FloatArray, condition_limit: float, min_observations: int
) -> list[FactorFit | str]:
    """Each column of ``y`` (n, series) regressed on ``x`` (n, k), every row used."""
    n, k = x.shape
    series = y.shape[1]
    needed = max(min_observations, k + 2)
    if n < needed:
        return [f"{n} aligned daily returns, fewer than {needed}"] * series
    y_bar = y.mean(axis=0)
    dy = y - y_bar
    syy = (dy * dy).sum(axis=0)
    flat = (syy <= _FLAT * (y * y).sum(axis=0)) | (syy == 0.0)
    x_bar = x.mean(axis=0)
    dx = x - x_bar
    sd = np.sqrt((dx * dx).mean(axis=0))
    if (sd <= np.sqrt(_FLAT) * np.sqrt((x * x).mean(axis=0))).any() or (sd == 0).any():
        return ["a factor did not move in the window"] * series
    z = dx / sd
    cond, eigenvalues = condition_number(z)
    dof = n - k - 1
    if cond <= condition_limit:
        x1 = np.column_stack([np.ones(n), x])
        q, r = np.linalg.qr(x1)
        coef = np.linalg.solve(r, q.T @ y)
        residual = y - x1 @ coef
        r_inv = np.linalg.inv(r)
        unscaled = (r_inv @ r_inv.T)[1:, 1:]
        alpha, loadings, penalty = coef[0], coef[1:], 0.0
    else:
        low, high = float(eigenvalues[0]), float(eigenvalues[-1])
        limit2 = condition_limit * condition_limit
        penalty = max((high - limit2 * low) / (limit2 - 1.0), 0.0)
        gram = z.T @ z
        a_inv = np.linalg.inv(gram + n * penalty * np.eye(k))
        loadings = (a_inv @ (z.T @ dy)) / sd[:, None]
        alpha = y_bar - x_bar @ loadings
        residual = y - alpha - x @ loadings
        unscaled = (a_inv @ gram @ a_inv) / np.outer(sd, sd)
    ssr = (residual * residual).sum(axis=0)
    perfect = ssr <= PERFECT_FIT * syy
    ssr = np.where(perfect, 0.0, ssr)
    # (series, k, k): each series' s^2 times the regressors' unscaled covariance.
    covariance = (ssr / dof)[:, None, None] * unscaled[None, :, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        std_errors = np.sqrt(np.diagonal(covariance, axis1=1, axis2=2)).T
        t_stats = np.where(perfect, np.nan, loadings / std_errors)
        r_squared = np.clip(1.0 - ssr / syy, 0.0, 1.0)
    residual_vol = np.sqrt(ssr / dof * TRADING_DAYS_PER_YEAR)
    # Rows per series (views, not copies) and plain floats, made once for the block.
    loading_rows = np.ascontiguousarray(loadings.T)
    error_rows = np.ascontiguousarray(std_errors.T)
    t_rows = np.ascontiguousarray(t_stats.T)
    alphas, r2s, vols = alpha.tolist(), r_squared.tolist(), residual_vol.tolist()
    out: list[FactorFit | str] = []
    for j in range(series):
        if flat[j]:
            out.append("price did not move in the window (zero return variance)")
            continue
        out.append(
            FactorFit(
                loadings=loading_rows[j],
                covariance=covariance[j],
                std_errors=error_rows[j],
                t_stats=t_rows[j],
                alpha=alphas[j],
                r_squared=r2s[j],
                residual_vol=vols[j],
                observations=int(n),
                condition_number=cond,
                ridge_penalty=float(penalty),
            )
        )
    return out


def spread_returns(
    leg_returns: FloatArray, long: NDArray[np.intp], short: NDArray[np.intp]
) -> FloatArray:
    """Factor returns (days, factors) from the legs' returns (days, legs): column f is leg
    ``long[f]``'s return minus leg ``short[f]``'s (none where ``short[f]`` is -1)."""
    legs = np.asarray(leg_returns, dtype=np.float64)
    out = legs[:, long].copy()
    has_short = short >= 0
    out[:, has_short] -= legs[:, short[has_short]]
    return out


@dataclass(frozen=True)
class WindowFactors:
    """Which factors a window can use: their returns' count and whether it is enough."""

    counts: NDArray[np.int64]
    usable: NDArray[np.bool_]
    minimum: int


def usable_factors(factor_returns: FloatArray, lo: int, end: int, window: int) -> WindowFactors:
    """The factors with a return on COVERAGE of the ``window`` days (rows lo..end-1)."""
    counts = np.isfinite(factor_returns[lo:end]).sum(axis=0).astype(np.int64)
    minimum = max(min_count(window), MIN_OBSERVATIONS)
    return WindowFactors(counts, counts >= minimum, minimum)


@dataclass(frozen=True)
class PortfolioLoadings:
    exposure: FloatArray
    """Per factor: sum_i E_i b_i,f / D / coverage_f; NaN when no position has a loading."""
    coverage: FloatArray
    """Per factor: the share of the gross exposure whose position has a loading (0..1)."""


def portfolio_loadings(
    loadings: FloatArray, exposures: FloatArray, denominator: float
) -> PortfolioLoadings:
    """The portfolio's exposures from its positions' ``loadings`` (positions, factors; NaN
    without one) and signed ``exposures`` (positions,; NaN without a price), over the
    ``denominator`` (the equity, else the gross exposure: app.formulas.book)."""
    b = np.asarray(loadings, dtype=np.float64)
    e = np.asarray(exposures, dtype=np.float64)
    priced = np.isfinite(e)
    e0 = np.where(priced, e, 0.0)
    gross = float(np.abs(e0).sum())
    covered = np.isfinite(b) & priced[:, None]
    covered_gross = (np.abs(e0)[:, None] * covered).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = covered_gross / gross if gross > 0 else np.zeros(b.shape[1])
        weighted = (e0[:, None] * np.where(covered, b, 0.0)).sum(axis=0) / denominator
        exposure = weighted / coverage
    exposure[(covered_gross == 0) | (denominator <= 0)] = np.nan
    return PortfolioLoadings(exposure, np.asarray(coverage, dtype=np.float64))
