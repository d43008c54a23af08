"""Realized volatility, the HAR-RV forecast, trend and percentile, for many series at once.

Inputs are daily simple returns shaped (days, series) on the trading-day calendar (NaN
for a missing day). Every volatility is annualised with sqrt(252).

Definitions
- Realized vol over w days (w = 21, 63): sample standard deviation (ddof=1) of the
  finite returns among the last w trading days, x sqrt(252). NaN when fewer than 80% of
  the w days have a return.
- HAR-RV components (Corsi 2009), with squared daily returns as the daily
  realized-variance proxy rv_t = r_t^2 (only closes are available):
      RV_d(t) = rv_t,  RV_w(t) = mean rv over t-4..t,  RV_m(t) = mean rv over t-20..t
  The stored vol_daily/weekly/monthly are sqrt(252 x RV_d/w/m) of the last day.
- HAR-RV forecast, fitted on the volatility scale (the square-root form of Andersen,
  Bollerslev & Diebold 2007):
      y(t) = sqrt(mean rv over t+1..t+21)              (the next 21 trading days' vol)
      y(t) = b0 + b_d sqrt(RV_d(t)) + b_w sqrt(RV_w(t)) + b_m sqrt(RV_m(t)) + e_t
  by least squares over every usable row of the history given (a row whose components
  and 21-day target all exist, i.e. whose target ends on or before the last day), then
  applied to the last day's components: ``expected_vol_21d`` = sqrt(252) x forecast.
  Why this scale: on variance levels a few crash days dominate the squared errors, the
  coefficients swing with them and the linear forecast can go negative (it did on real
  S&P 500 data, Sept 2015); square roots compress the spikes while keeping the model
  linear and its forecast in the unit that is stored (vol), so no retransformation bias
  correction is needed (logs would need one). ``model_r_squared`` is the in-sample R^2 of
  this vol-scale regression (not of variances). How much history the caller passes is
  its choice; the engine passes up to ``HAR_HISTORY_DAYS``.
- Insanity filter (Swanson & White 1997; as used for HAR forecasts by Bollerslev, Patton
  & Quaedvlieg 2016): a forecast outside [min y, max y] of the fit sample, or not
  positive, is not trusted. Bollerslev, Patton & Quaedvlieg replace it with the fit
  sample's mean; here it is replaced by the no-change forecast sqrt(RV_m) of the last day
  (the random walk the model has to beat): a forecast leaves the range when the last
  day's components are unlike those of the fit sample, above it typically after a crash
  larger than any before, where the sample mean would forecast calm at the worst moment.
  When the no-change forecast is not positive either (no move in 21 days) the sample
  mean is used, which is positive whenever the target varies. So a forecast is never
  zero or negative; ``filtered`` says where the filter replaced one. (On the real S&P
  500 and NASDAQ series with short windows, 126 to 504 days, where the filter does
  trigger, in both directions, the no-change fallback scored at least as well as the
  sample mean and as clipping to the range, on RMSE and QLIKE alike.)
- A forecast that cannot be made is NaN, with the reason in ``skip_reason``: fewer than
  ``MIN_HAR_SAMPLES`` usable rows, a target without variation (a flat price), collinear
  components, or missing components on the last day.
- Forecast quality is scored out of sample (backend/perf/forecast_quality.py) with RMSE
  on annualised vol and QLIKE on variances, mean(s2/f2 - ln(s2/f2) - 1), which ranks
  forecasts consistently under a noisy volatility proxy (Patton 2011).
- Trend: ratio = realized_vol_21d / realized_vol_63d (short against long window).
  'increasing' when ratio >= 1.10, 'decreasing' when ratio <= 1/1.10, else 'stable'.
  strength = min(1, |ln ratio| / ln 2): 0 for equal vols, 1 once one is double the other.
- Percentile: share of the 21d realized vols of the last 252 trading days (today's
  included) that are <= today's; in (0, 1]. NaN with fewer than 63 such values.

The HAR fit is written as OLS normal equations, sums over sample rows of per-row
quantities (``HarRows``: x = (1, components), y; summed into ``HarSums``: X'X, X'y, y'y,
plus the sample's min and max y for the filter). ``har_forecast`` sums over all usable
rows; ``har_forecast_all_dates`` forms the same sums for every date at once from prefix
sums (no lookahead: at date T only rows whose target ends on or before T), and both
solve them with the same ``solve_har``.

References
- Corsi, F. (2009). A simple approximate long-memory model of realized volatility.
  Journal of Financial Econometrics 7(2), 174-196.
- Andersen, T. G., Bollerslev, T. & Diebold, F. X. (2007). Roughing it up: including
  jump components in the measurement, modeling, and forecasting of return volatility.
  Review of Economics and Statistics 89(4), 701-720.
- Swanson, N. R. & White, H. (1997). A model selection approach to real-time
  macroeconomic forecasting using linear models and artificial neural networks.
  Review of Economics and Statistics 79(4), 540-550.
- Bollerslev, T., Patton, A. J. & Quaedvlieg, R. (2016). Exploiting the errors: a simple
  approach for improved volatility forecasting. Journal of Econometrics 192(1), 1-18.
- Patton, A. J. (2011). Volatility forecast comparison using imperfect volatility
  proxies. Journal of Econometrics 160(1), 246-256.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.risk.returns import (
    TRADING_DAYS_PER_YEAR,
    FloatArray,
    annualise_vol,
    rolling_nanmean,
)

SHORT_WINDOW = 21
LONG_WINDOW = 63
HAR_WEEK = 5
HAR_MONTH = 21
FORECAST_HORIZON = 21
MIN_HAR_SAMPLES = 63
HAR_HISTORY_DAYS = 2520
"""Most trading days of returns the engine passes to the HAR fit (~10 years). The 21-day
targets overlap, so 504 days hold only ~24 independent months and the coefficients swing
with each crisis in or out of the window; 10 years usually span a whole volatility cycle
(calm years and at least one crisis), while a distant regime still drops out eventually.
The realized-vol windows and the 252-day percentile keep their own lengths."""
PERCENTILE_LOOKBACK = 252
MIN_PERCENTILE_HISTORY = 63
TREND_THRESHOLD = 0.10
TREND_FULL_STRENGTH_RATIO = 2.0
COVERAGE = 0.8
"""Share of a window's days that must have a return for the window to count."""

TRENDS = ("increasing", "decreasing", "stable")


def min_count(window: int) -> int:
    """Returns a ``window``-day window needs to count: COVERAGE of its days, rounded up."""
    return math.ceil(COVERAGE * window)


def _as_2d(returns: FloatArray) -> FloatArray:
    r = np.asarray(returns, dtype=np.float64)
    return r[:, None] if r.ndim == 1 else r


def rolling_realized_vol(returns: FloatArray, window: int) -> FloatArray:
    """Annualised realized vol of the trailing ``window`` days at every row; (days, series)."""
    r = _as_2d(returns)
    needed = min_count(window)
    mean = rolling_nanmean(r, window, needed)
    mean_sq = rolling_nanmean(r * r, window, needed)
    count = rolling_nanmean(np.isfinite(r).astype(np.float64), window, 1) * window
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (mean_sq - mean * mean) * count / (count - 1)
    # Cancellation can leave -1e-20 for a flat series.
    return annualise_vol(np.maximum(var, 0.0))


def realized_vol(returns: FloatArray, window: int) -> FloatArray:
    """Annualised realized vol over the last ``window`` days; (series,)."""
    r = _as_2d(returns)
    if r.shape[0] < window:
        return np.full(r.shape[1], np.nan)
    last: FloatArray = rolling_realized_vol(r[-window:], window)[-1]
    return last


@dataclass(frozen=True)
class HarResult:
    vol_daily: FloatArray
    vol_weekly: FloatArray
    vol_monthly: FloatArray
    expected_vol: FloatArray
    r_squared: FloatArray
    """In-sample R^2 of the vol-scale fit."""
    coefficients: FloatArray
    """(series, 4): b0, b_d, b_w, b_m on the daily vol scale (sqrt of daily variance)."""
    samples: NDArray[np.int64]
    filtered: NDArray[np.bool_]
    """True where the insanity filter replaced the model's forecast by the fallback."""
    skip_reason: list[str | None]
    """Why ``expected_vol`` is NaN for a series (None where there is a forecast)."""


def har_components(returns: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """RV_d, RV_w, RV_m (daily variance units) at every row; each (days, series)."""
    rv = _as_2d(returns) ** 2
    return (
        rv,
        rolling_nanmean(rv, HAR_WEEK, min_count(HAR_WEEK)),
        rolling_nanmean(rv, HAR_MONTH, min_count(HAR_MONTH)),
    )


def har_target(returns: FloatArray, horizon: int = FORECAST_HORIZON) -> FloatArray:
    """Mean rv over the next ``horizon`` days, aligned to the forecasting day; NaN at the end."""
    rv = _as_2d(returns) ** 2
    trailing = rolling_nanmean(rv, horizon, min_count(horizon))
    target = np.full(rv.shape, np.nan)
    target[:-horizon] = trailing[horizon:]
    return target


@dataclass(frozen=True)
class HarRows:
    """Per-row quantities of the vol-scale HAR regression (see the module docstring)."""

    x: FloatArray
    """(4, days, series): 1, sqrt(RV_d), sqrt(RV_w), sqrt(RV_m) at each row; regressor
    first, so each regressor is one contiguous (days, series) block for the sums."""
    y: FloatArray
    """(days, series): sqrt(mean rv of the next ``horizon`` days); NaN for the last rows."""
    usable: NDArray[np.bool_]
    """(days, series): every component and the target exist, so the row is a sample."""


def har_rows(returns: FloatArray, horizon: int = FORECAST_HORIZON) -> HarRows:
    """The regressors, target and sample mask of every row of ``returns``."""
    r = _as_2d(returns)
    d, w, m = har_components(r)
    x = np.stack([np.ones_like(d), np.sqrt(d), np.sqrt(w), np.sqrt(m)])
    y = np.sqrt(har_target(r, horizon))
    usable = np.isfinite(x).all(axis=0) & np.isfinite(y)
    return HarRows(x=x, y=y, usable=usable)


HAR_PAIRS = tuple((i, j) for i in range(4) for j in range(i, 4))
"""The 10 distinct (i, j) entries of the symmetric X'X, in the order cross-products use."""


def _symmetric(pair_sums: FloatArray) -> FloatArray:
    """(10, ...) sums in HAR_PAIRS order -> (..., 4, 4) symmetric X'X."""
    out = np.empty((*pair_sums.shape[1:], 4, 4))
    for k, (i, j) in enumerate(HAR_PAIRS):
        out[..., i, j] = out[..., j, i] = pair_sums[k]
    return out


def _masked(rows: HarRows) -> tuple[FloatArray, FloatArray]:
    return np.where(rows.usable, rows.x, 0.0), np.where(rows.usable, rows.y, 0.0)


def har_cross_products(rows: HarRows) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Each row's x_i x_j (10, days, series; HAR_PAIRS order), x y (4, days, series) and y^2
    (days, series), zero on rows that are not samples: summed over a set of rows they give
    that set's X'X, X'y and y'y."""
    x, y = _masked(rows)
    return np.stack([x[i] * x[j] for i, j in HAR_PAIRS]), x * y, y * y


@dataclass(frozen=True)
class HarSums:
    """The normal equations of one fit sample per (date, series): sums over its rows, plus
    the range of its targets for the insanity filter. Leading shape: (series,) or
    (dates, series)."""

    xtx: FloatArray
    xty: FloatArray
    yty: FloatArray
    y_min: FloatArray
    y_max: FloatArray

    @property
    def samples(self) -> NDArray[np.int64]:
        # X'X[0, 0] sums the intercept column: the number of sample rows.
        return np.rint(self.xtx[..., 0, 0]).astype(np.int64)


def har_sums(rows: HarRows) -> HarSums:
    """HarSums over every usable row (the single-date fit): the sums of
    har_cross_products over the rows, without materialising the per-row products."""
    x, y = _masked(rows)
    pairs = np.stack([np.einsum("tn,tn->n", x[i], x[j]) for i, j in HAR_PAIRS])
    return HarSums(
        xtx=_symmetric(pairs),
        xty=np.einsum("itn,tn->ni", x, y),
        yty=np.einsum("tn,tn->n", y, y),
        y_min=np.where(rows.usable, rows.y, np.inf).min(axis=0, initial=np.inf),
        y_max=np.where(rows.usable, rows.y, -np.inf).max(axis=0, initial=-np.inf),
    )


HAR_SKIP_REASONS = (
    None,
    f"fewer than {MIN_HAR_SAMPLES} usable HAR samples (days with 21 returns before and after)",
    "the 21-day vol did not vary in the fit sample (flat price)",
    "the HAR components are collinear in the fit sample",
    "the last day's HAR components are missing (fewer than 80% of its last 21 returns)",
)
"""Messages for ``HarSolution.reason_code`` (0: a forecast was made)."""
_TOO_FEW, _FLAT, _COLLINEAR, _NO_LAST = 1, 2, 3, 4
_RELATIVE_TOLERANCE = 1e-12
"""A centred sum of squares below this share of the raw one is rounding noise, not variation."""
_MAX_CONDITION = 1e10
"""Largest condition number of the regressors' correlation matrix that is still solved."""


@dataclass(frozen=True)
class HarSolution:
    """The fit and forecast of each sample in a HarSums (same leading shape), daily vol units."""

    forecast: FloatArray
    """The next ``horizon`` days' daily vol after the insanity filter; NaN with a reason."""
    coefficients: FloatArray
    r_squared: FloatArray
    filtered: NDArray[np.bool_]
    reason_code: NDArray[np.int8]
    samples: NDArray[np.int64]


def solve_har(
    sums: HarSums, x_last: FloatArray, *, min_samples: int = MIN_HAR_SAMPLES
) -> HarSolution:
    """Solve the normal equations of ``sums`` and forecast from the regressors ``x_last``.

    The slopes come from the centred 3x3 system (Sxx b = Sxy), scaled to a correlation
    matrix before solving so the vols' level does not affect conditioning; b0 = mean(y) -
    b . mean(x); R^2 = b . Sxy / Syy. The insanity filter and fallback are applied here.
    """
    n = sums.xtx[..., 0, 0]
    n_safe = np.maximum(n, 1.0)
    mean_x = sums.xtx[..., 0, 1:] / n_safe[..., None]
    mean_y = sums.xty[..., 0] / n_safe
    sxx = sums.xtx[..., 1:, 1:] - n[..., None, None] * mean_x[..., :, None] * mean_x[..., None, :]
    sxy = sums.xty[..., 1:] - n[..., None] * mean_x * mean_y[..., None]
    syy = sums.yty - n * mean_y * mean_y

    raw_xx = np.diagonal(sums.xtx[..., 1:, 1:], axis1=-2, axis2=-1)
    var_x = np.diagonal(sxx, axis1=-2, axis2=-1)
    varies_x: NDArray[np.bool_] = np.asarray((var_x > _RELATIVE_TOLERANCE * raw_xx).all(axis=-1))
    varies_y: NDArray[np.bool_] = np.asarray(syy > _RELATIVE_TOLERANCE * sums.yty)
    scale = np.sqrt(np.where(varies_x[..., None], var_x, 1.0))
    corr = sxx / (scale[..., :, None] * scale[..., None, :])
    eye = np.broadcast_to(np.eye(3), corr.shape)
    corr = np.where(varies_x[..., None, None], corr, eye)
    eig = np.linalg.eigvalsh(corr)
    with np.errstate(invalid="ignore", divide="ignore"):
        well_posed: NDArray[np.bool_] = (
            varies_x & (eig[..., 0] > 0) & (eig[..., -1] / eig[..., 0] < _MAX_CONDITION)
        )
    corr = np.where(well_posed[..., None, None], corr, eye)
    slopes = np.linalg.solve(corr, (sxy / scale)[..., None])[..., 0] / scale
    intercept = mean_y - (slopes * mean_x).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_squared = np.clip((slopes * sxy).sum(axis=-1) / syy, 0.0, 1.0)

    model = intercept + (slopes * x_last[..., 1:]).sum(axis=-1)
    sane = (model >= sums.y_min) & (model <= sums.y_max) & (model > 0)
    no_change = x_last[..., 3]  # sqrt(RV_m) of the last day: the random walk
    fallback = np.where(no_change > 0, no_change, mean_y)
    forecast = np.where(sane, model, fallback)

    samples = np.rint(n).astype(np.int64)
    reason = np.zeros(n.shape, dtype=np.int8)
    reason[~np.isfinite(x_last).all(axis=-1)] = _NO_LAST
    reason[~well_posed] = _COLLINEAR
    reason[~varies_y] = _FLAT
    reason[samples < min_samples] = _TOO_FEW
    failed = reason != 0
    forecast[failed] = np.nan
    r_squared[failed] = np.nan
    coefficients = np.concatenate([intercept[..., None], slopes], axis=-1)
    coefficients[failed] = np.nan
    return HarSolution(
        forecast=forecast,
        coefficients=coefficients,
        r_squared=r_squared,
        filtered=~sane & ~failed,
        reason_code=reason,
        samples=samples,
    )


def har_forecast(
    returns: FloatArray,
    *,
    horizon: int = FORECAST_HORIZON,
    min_samples: int = MIN_HAR_SAMPLES,
) -> HarResult:
    """Fit the vol-scale HAR-RV per series on every usable row and forecast the next
    ``horizon`` days from the last row (see the module docstring)."""
    r = _as_2d(returns)
    if r.shape[0] == 0:
        raise ValueError("no returns")
    rows = har_rows(r, horizon)
    last = rows.x[:, -1].T  # (series, 4)
    solution = solve_har(har_sums(rows), last, min_samples=min_samples)
    sqrt_year = math.sqrt(TRADING_DAYS_PER_YEAR)
    return HarResult(
        vol_daily=last[:, 1] * sqrt_year,
        vol_weekly=last[:, 2] * sqrt_year,
        vol_monthly=last[:, 3] * sqrt_year,
        expected_vol=solution.forecast * sqrt_year,
        r_squared=solution.r_squared,
        coefficients=solution.coefficients,
        samples=solution.samples,
        filtered=solution.filtered,
        skip_reason=[HAR_SKIP_REASONS[c] for c in solution.reason_code.tolist()],
    )


@dataclass(frozen=True)
class HarForecasts:
    """``har_forecast`` at every row from ``first_row`` on: arrays (dates, series[, 4])."""

    rows: NDArray[np.intp]
    """The forecasting rows (indices into the returns), first_row..days-1."""
    expected_vol: FloatArray
    r_squared: FloatArray
    coefficients: FloatArray
    samples: NDArray[np.int64]
    filtered: NDArray[np.bool_]
    reason_code: NDArray[np.int8]
    """Index into HAR_SKIP_REASONS."""


def _prefix(a: FloatArray) -> FloatArray:
    """P[k] = sum of rows < k along axis 0; P has one more row than ``a``."""
    return np.concatenate([np.zeros((1, *a.shape[1:])), np.cumsum(a, axis=0)])


def _range_extreme(
    values: FloatArray, lo: NDArray[np.intp], hi: NDArray[np.intp], *, largest: bool
) -> FloatArray:
    """min (or max) of values[lo[k]..hi[k]] (inclusive) along axis 0 for every k, from a
    sparse table of power-of-two blocks: O(days log days) whatever the ranges' lengths.
    Empty ranges (hi < lo) give +inf for a min, -inf for a max."""
    reduce = np.maximum if largest else np.minimum
    empty = -np.inf if largest else np.inf
    out = np.full((lo.size, *values.shape[1:]), empty)
    nonempty = hi >= lo
    length = np.where(nonempty, hi - lo + 1, 1)
    level = np.floor(np.log2(length)).astype(np.intp)
    table = values
    for k in range(int(level.max(initial=0)) + 1):
        if k:
            half = 1 << (k - 1)
            table = reduce(table[:-half], table[half:])  # row i: rows i..i+2^k-1
        pick = np.flatnonzero(nonempty & (level == k))
        if pick.size:
            width = 1 << k
            out[pick] = reduce(table[lo[pick]], table[hi[pick] - width + 1])
    return out


def har_forecast_all_dates(
    returns: FloatArray,
    first_row: int,
    *,
    history: int | None = None,
    horizon: int = FORECAST_HORIZON,
    min_samples: int = MIN_HAR_SAMPLES,
) -> HarForecasts:
    """For every row T >= ``first_row``: what ``har_forecast(returns[s:T + 1])`` gives, with
    s = max(0, T + 1 - history) (s = 0 without a ``history`` cap), in one vectorised pass.

    The per-row cross-products are summed once into prefix sums; date T's normal
    equations are the difference of two prefix sums over its sample rows s+20..T-horizon
    (the first row whose components fit in the window, the last whose target ends on or
    before T: no lookahead). Memory is O(days x series x 10).
    """
    r = _as_2d(returns)
    days = r.shape[0]
    if not 0 <= first_row < days:
        raise ValueError(f"first_row {first_row} outside 0..{days - 1}")
    if history is not None and history < 1:
        raise ValueError(f"history must be positive, got {history}")
    rows = har_rows(r, horizon)
    xx, xy, yy = har_cross_products(rows)
    t = np.arange(first_row, days, dtype=np.intp)
    start = np.zeros_like(t) if history is None else np.maximum(0, t + 1 - history)
    lo = np.minimum(start + HAR_MONTH - 1, days)
    hi = t - horizon
    end = np.maximum(hi + 1, lo)  # exclusive; an empty sample sums to zero

    def window(per_row: FloatArray, axis: int) -> FloatArray:
        prefix = _prefix(np.moveaxis(per_row, axis, 0))
        return prefix[end] - prefix[lo]

    sums = HarSums(
        xtx=_symmetric(np.moveaxis(window(xx, 1), 0, 1)),  # (dates, 10, series) -> (10, ..)
        xty=np.moveaxis(window(xy, 1), 1, -1),  # (dates, 4, series) -> (dates, series, 4)
        yty=window(yy, 0),
        y_min=_range_extreme(np.where(rows.usable, rows.y, np.inf), lo, hi, largest=False),
        y_max=_range_extreme(np.where(rows.usable, rows.y, -np.inf), lo, hi, largest=True),
    )
    solution = solve_har(sums, np.moveaxis(rows.x[:, t], 0, -1), min_samples=min_samples)
    return HarForecasts(
        rows=t,
        expected_vol=solution.forecast * math.sqrt(TRADING_DAYS_PER_YEAR),
        r_squared=solution.r_squared,
        coefficients=solution.coefficients,
        samples=solution.samples,
        filtered=solution.filtered,
        reason_code=solution.reason_code,
    )


def vol_trend(short_vol: FloatArray, long_vol: FloatArray) -> tuple[list[str | None], FloatArray]:
    """Trend label and strength per series from the short/long realized-vol ratio.

    See the module docstring for the rule. None/NaN where either vol is missing; two
    zero vols (a flat price) are 'stable' with strength 0.
    """
    s = np.asarray(short_vol, dtype=np.float64)
    lv = np.asarray(long_vol, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ratio = np.log(s / lv)
    both_zero = (s == 0) & (lv == 0)
    log_ratio = np.where(both_zero, 0.0, log_ratio)
    strength = np.clip(np.abs(log_ratio) / math.log(TREND_FULL_STRENGTH_RATIO), 0.0, 1.0)
    up = math.log(1.0 + TREND_THRESHOLD)
    labels: list[str | None] = []
    for value in log_ratio.tolist():
        if not math.isfinite(value):
            labels.append(None)
        elif value >= up - 1e-12:
            labels.append("increasing")
        elif value <= -up + 1e-12:
            labels.append("decreasing")
        else:
            labels.append("stable")
    strength = np.where(np.isfinite(log_ratio), strength, np.nan)
    return labels, strength


def vol_percentile(
    rolling_vol: FloatArray,
    *,
    lookback: int = PERCENTILE_LOOKBACK,
    min_history: int = MIN_PERCENTILE_HISTORY,
) -> FloatArray:
    """Share of the last ``lookback`` rolling vols (today included) at or below today's."""
    v = _as_2d(rolling_vol)[-lookback:]
    current = v[-1]
    valid = np.isfinite(v)
    count = valid.sum(axis=0)
    at_or_below = (valid & (v <= current)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct: FloatArray = at_or_below / count
    pct[(count < min_history) | ~np.isfinite(current)] = np.nan
    return pct


@dataclass(frozen=True)
class VolatilityResult:
    realized_vol_21d: FloatArray
    realized_vol_63d: FloatArray
    har: HarResult
    trend: list[str | None]
    trend_strength: FloatArray
    percentile: FloatArray
    observations: NDArray[np.int64]
    """Finite daily returns in the history the figures were computed from."""


def volatility_metrics(returns: FloatArray) -> VolatilityResult:
    """Every volatility figure the tables store, for each column of ``returns``."""
    r = _as_2d(returns)
    if r.shape[0] == 0:
        raise ValueError("no returns")
    rolling_21 = rolling_realized_vol(r, SHORT_WINDOW)
    vol_21 = rolling_21[-1]
    vol_63 = realized_vol(r, LONG_WINDOW)
    trend, strength = vol_trend(vol_21, vol_63)
    return VolatilityResult(
        realized_vol_21d=vol_21,
        realized_vol_63d=vol_63,
        har=har_forecast(r),
        trend=trend,
        trend_strength=strength,
        percentile=vol_percentile(rolling_21),
        observations=np.isfinite(r).sum(axis=0).astype(np.int64),
    )
